// Structured logs through pino, with redaction compiled once from fixed paths (never from
// user input). Secrets are also kept out by construction (identities print only public
// parts), the redaction is the second fence.
import { pino } from 'pino';
import type { Logger, DestinationStream, LoggerOptions } from 'pino';

/** Fields the SDK's logger prints as [Redacted] (seeds, keys, passwords, tokens, payloads): pino's redact paths. */
export const REDACT_PATHS = [
  'seed',
  '*.seed',
  '*.*.seed',
  'secretKey',
  '*.secretKey',
  'privateKey',
  '*.privateKey',
  'nats_seed',
  '*.nats_seed',
  'keys[*].seed',
  '*.keys[*].seed',
  'natsSeed',
  '*.natsSeed',
  'password',
  '*.password',
  'token',
  '*.token',
  'payload',
  '*.payload',
  'encryptionKey',
  '*.encryptionKey',
];

export type { Logger };

/** A pino logger as the SDK uses it: JSON lines to `destination` (default stdout), REDACT_PATHS redacted, level from `level`, else AGENTBUS_LOG_LEVEL, else info. */
export function createLogger(opts: { name?: string; level?: string; destination?: DestinationStream } = {}): Logger {
  const options: LoggerOptions = {
    name: opts.name ?? 'agentbus',
    level: opts.level ?? process.env.AGENTBUS_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    base: { pid: process.pid },
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
