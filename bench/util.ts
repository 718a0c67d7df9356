export interface Figure {
  name: string;
  value: number;
  unit: string;
}

/** Run fn repeatedly for ~ms milliseconds; return operations per second. */
export function opsPerSec(fn: (i: number) => void, ms = 1000): number {
  for (let i = 0; i < 200; i++) fn(i); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let k = 0; k < 64; k++) fn(n++);
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

export function report(figures: Figure[], json: boolean): void {
  if (json) {
    for (const f of figures) console.log(JSON.stringify({ name: f.name, value: Number(f.value.toFixed(f.value < 10 ? 3 : 0)), unit: f.unit }));
    return;
  }
  const w = Math.max(...figures.map((f) => f.name.length));
  for (const f of figures)
    console.log(`${f.name.padEnd(w)}  ${f.value.toLocaleString('en-US', { maximumFractionDigits: f.value < 10 ? 3 : 0 }).padStart(14)}  ${f.unit}`);
}
