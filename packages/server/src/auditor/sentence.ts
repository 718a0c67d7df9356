// One plain sentence per alert, for every place that shows one: the alert the auditor publishes
// and logs (detect.ts), the HTML report, the demo, detect replay.
import { describeAlert, isDetectorRule } from './detectors/index.js';
import { duration, list, num, obj } from './detectors/explain.js';
import type { AlertView } from './detectors/explain.js';
import { DEAD_LETTER_RULE } from './defaults.js';
import { describeConnectionAlert } from './connections.js';

/** What a sentence is made from: an alert as the report reads it (its window may also be ClickHouse DateTime text). */
export type SentenceInput = AlertView;

/** The one alert the auditor raises itself (not a detector). */
function deadLetterSentence(ev: Record<string, unknown>): string {
  const subject = typeof ev['subject'] === 'string' ? ev['subject'] : 'the audit stream';
  const seq = num(ev['streamSeq']);
  const why = typeof ev['reason'] === 'string' && ev['reason'] ? `: ${ev['reason']}` : '';
  return `A message on ${subject}${seq === undefined ? '' : ` (stream seq ${seq})`} was not a signed audit batch and went to the dead-letter stream ${typeof ev['dlq_stream'] === 'string' ? ev['dlq_stream'] : 'AUDIT_DLQ'}${why}`;
}

/**
 * One plain sentence saying what happened, ending with the rule ("browser had 14 of 15 messages
 * rejected in 1 min (threshold 10): <rule>"). Known rules have their own sentence; an
 * unknown rule, or evidence that lacks the fields, gets a generic one. Plain text: escape it.
 */
export function alertSentence(a: SentenceInput): string {
  const ev = obj(a.evidence) ?? {};
  const dur = duration(Date.parse(a.window_end) - Date.parse(a.window_start));
  const s = a.rule === DEAD_LETTER_RULE ? deadLetterSentence(ev) : isDetectorRule(a.rule) ? describeAlert(a) : describeConnectionAlert(a.rule, a.agents[0] || 'an unnamed agent', ev);
  if (s !== undefined) return `${s}: ${a.rule}`;
  const keys = Object.keys(ev);
  return `A ${a.severity} alert ${a.agents.length ? `about ${list(a.agents)}` : 'about no agent in particular'} over ${dur}${keys.length ? `, its evidence holding ${list(keys, 5)}` : ''}: ${a.rule}`;
}
