// `agentbus guard scan [FILE|-] [--json]`: the content guards (docs/design.md §12) on one payload, with
// exactly the scanner and defaults the verifier uses (scanPayload from @agentbus/protocol): UTF-8
// JSON is walked string by string (keys too), anything else is scanned as one string.
// Exit codes (cli.ts): 0 clean, 1 findings or an unreadable input, 2 usage.
// Output never contains a matched secret: findings carry the rule and a SHA-256 prefix.
import { readFileSync } from 'node:fs';
import { type GuardFinding } from '@agentbus/protocol';
import { scanPayloadResult, type ScanResult } from '@agentbus/protocol/guard';

/** An input that cannot be read (exit 1, one line). */
export class GuardScanError extends Error {
  override name = 'GuardScanError';
}

/** Largest input read (the verifier's payloads are far smaller). */
export const MAX_GUARD_INPUT_BYTES = 64 * 1024 * 1024;

export function readGuardInput(file: string): Uint8Array {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? readFileSync(0) : readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GuardScanError(
      `cannot read ${file === '-' ? 'stdin' : file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? 'error')}`,
    );
  }
  if (bytes.length > MAX_GUARD_INPUT_BYTES)
    throw new GuardScanError(`${file}: ${bytes.length} bytes, more than the ${MAX_GUARD_INPUT_BYTES} this command reads`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** One finding per line: `kind path rule detail` (credentials add their hash). */
export function findingLine(f: GuardFinding): string {
  return `${f.kind} ${f.path} ${f.rule ?? '-'} ${f.detail}${f.hash ? ` (sha256 ${f.hash})` : ''}`;
}

export function formatGuardResult(r: ScanResult, json: boolean): string {
  const clean = r.findings.length === 0;
  if (json) return JSON.stringify({ findings: r.findings, clean, ...(r.truncated ? { truncated: true } : {}) });
  if (clean) return 'clean';
  const lines = r.findings.map(findingLine);
  if (r.truncated) lines.push(`… and more: at most ${r.findings.length} findings are reported for one payload`);
  return lines.join('\n');
}

/** Scan, print, and return the exit code (0 clean, 1 findings). */
export function runGuardScan(o: { file: string; json?: boolean; write?: (s: string) => void }): number {
  const r = scanPayloadResult(readGuardInput(o.file));
  (o.write ?? ((s: string) => void process.stdout.write(s + '\n')))(formatGuardResult(r, !!o.json));
  return r.findings.length ? 1 : 0;
}
