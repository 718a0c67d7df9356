// Loader hooks for load-recorder.mjs (they run on the loader thread).
import { appendFileSync } from 'node:fs';

const out = process.env.AGENTBUS_LOAD_RECORD;

export async function load(url, context, next) {
  const r = await next(url, context);
  if (out) appendFileSync(out, `${url}\n`);
  return r;
}
