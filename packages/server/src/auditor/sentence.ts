// One plain sentence per alert, for every place that shows one: the alert the auditor publishes
// and logs (detect.ts), the HTML report, the demo, detect replay.
import { describeAlert, isDetectorRule, RULES } from './detectors/index.js';
import { duration, list, num, obj } from './detectors/explain.js';
import type { AlertView } from './detectors/explain.js';
import { DEAD_LETTER_RULE } from './defaults.js';
import { QUARANTINE_RULE } from '../common/quarantine.js';
import { CONNECTION_RULES, describeConnectionAlert } from './connections.js';

/**
 * Every rule the auditor can raise an alert for: the detectors', the connection watch's, and the
 * two it raises itself (a quarantined sender, a dead-lettered audit message). What
 * `agentbus audit alerts --rule` lists.
 */
export const ALERT_RULES: readonly string[] = [...RULES, ...CONNECTION_RULES, QUARANTINE_RULE, DEAD_LETTER_RULE];

/** What a sentence is made from: an alert as the report reads it (its window may also be ClickHouse DateTime text). */
export type SentenceInput = AlertView;

/** The one alert the auditor raises itself (not a detector). */
function deadLetterSentence(ev: Record<string, unknown>): string {
  const subject = typeof ev['subject'] === 'string' ? ev['subject'] : 'the audit stream';
  const seq = num(ev['streamSeq']);
  const why = typeof ev['reason'] === 'string' && ev['reason'] ? `: ${ev['reason']}` : '';
  return `A message on ${subject}${seq === undefined ? '' : ` (stream seq ${seq})`} was not a signed audit batch and went to the dead-letter stream ${typeof ev['dlq_stream'] === 'string' ? ev['dlq_stream'] : 'AUDIT_DLQ'}${why}`;
}

/** The auditor's alert for a sender the verifier quarantined at NATS (common/quarantine.ts). */
function quarantineSentence(agent: string, ev: Record<string, unknown>): string {
  const shed = num(ev['shed']);
  const cool = num(ev['cool_down_s']);
  const level = num(ev['quarantine']);
  const until = typeof ev['until'] === 'string' ? ev['until'] : undefined;
  return `${agent} spent its rejection budget${shed === undefined ? '' : ` (${shed} messages shed)`} and lost its publish permission at NATS${cool === undefined ? '' : ` for ${cool} s`}${until ? ` until ${until}` : ''}${level !== undefined && level > 1 ? ` (quarantine #${level} of this flood)` : ''}`;
}

/** Which mode decided (docs/design.md §18): said when monitor mode had a part, else nothing. */
function modeNote(ev: Record<string, unknown>): string {
  const would = num(ev['would_refuse']);
  if (ev['mode'] === 'monitor') return ' (monitor mode: delivered, would refuse)';
  if (ev['mode'] === 'mixed' && would !== undefined) return ` (${would} of them in monitor mode: delivered, would refuse)`;
  const agents = Array.isArray(ev['monitor_agents']) ? (ev['monitor_agents'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  return agents.length ? ` (decided in monitor mode for ${list(agents)})` : '';
}

/**
 * One plain sentence saying what happened, ending with the rule ("browser had 14 of 15 messages
 * rejected in 1 min (threshold 10): <rule>"). Known rules have their own sentence; an
 * unknown rule, or evidence that lacks the fields, gets a generic one. Plain text: escape it.
 */
export function alertSentence(a: SentenceInput): string {
  const ev = obj(a.evidence) ?? {};
  const dur = duration(Date.parse(a.window_end) - Date.parse(a.window_start));
  const s =
    a.rule === DEAD_LETTER_RULE
      ? deadLetterSentence(ev)
      : a.rule === QUARANTINE_RULE
        ? quarantineSentence(a.agents[0] || 'an unnamed agent', ev)
        : isDetectorRule(a.rule)
          ? describeAlert(a)
          : describeConnectionAlert(a.rule, a.agents[0] || 'an unnamed agent', ev);
  if (s !== undefined) return `${s}${modeNote(ev)}: ${a.rule}`;
  const keys = Object.keys(ev);
  return `A ${a.severity} alert ${a.agents.length ? `about ${list(a.agents)}` : 'about no agent in particular'} over ${dur}${keys.length ? `, its evidence holding ${list(keys, 5)}` : ''}: ${a.rule}`;
}
