// `agentbus audit report --html FILE`: the HTML report, one self-contained page for analysts.
// The room:
//   types.ts     the report's data (ReportData), shared by the queries, the page and its script
//   queries.ts   the data, computed from the store (every SQL query of the report)
//   page.ts      the HTML page: static sections, the embedded data, the CSP
//   report.css   the page's style sheet (inline in the page)
//   client.ts    the page's script, in TypeScript (DOM types: tsconfig.client.json), bundled at build
//                time into dist/auditor/report/client.js (scripts/build-report-client.cjs), inline in the page
//   assets.ts    reads those two assets (from the sources, bundles client.ts in memory)
import { renameSync, writeFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { AuditStore } from '../store.js';
import { buildReportData } from './queries.js';
import { renderHtmlReport } from './page.js';
import type { ReportOptions } from './types.js';

export type * from './types.js';
export { BUCKET_SECONDS, bucketLabel, buildReportData, bySeverity, chooseBucketSeconds } from './queries.js';
export { escapeHtml, jsonForScript, renderHtmlReport, trailCommand } from './page.js';
// one sentence per alert: auditor/sentence.ts (the detection engine says the same)
export { alertSentence } from '../sentence.js';

export interface ReportSummary {
  file: string;
  bytes: number;
  nodes: number;
  edges: number;
  rejected_edges: number;
  series: number;
  reasons: number;
  alerts: number;
  trails: number;
}

/** Build the data, render, and write the page (atomically: a temp file renamed into place). */
export async function writeHtmlReport(store: AuditStore, file: string, opts: ReportOptions = {}): Promise<ReportSummary> {
  const data = await buildReportData(store, opts);
  const html = renderHtmlReport(data);
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, html, { encoding: 'utf8', mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${file}: ${err.code ?? err.message}${err.code === 'ENOENT' ? ' (does the directory exist?)' : ''}`);
  }
  return {
    file,
    bytes: Buffer.byteLength(html),
    nodes: data.nodes.length,
    edges: data.edges.length,
    rejected_edges: data.edges.filter((e) => e.rejected > 0).length,
    series: data.per_bucket.series.length,
    reasons: data.rejections.length,
    alerts: data.alerts.length,
    trails: data.trails.length,
  };
}
