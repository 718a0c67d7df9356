// The console (docs/console.md), in a real browser: playwright-core drives the Debian Chromium
// against a dev bus (nats-server, verifier, auditor on chDB) with the console started by the bus.
// A refused message shows in the verdict stream as it happens, an alert with its sentence, a held
// tool call is approved by a click (and runs) or denied with a reason (and is refused), a digest
// the screen did not show never approves, and requests from another origin or host are refused.
//
// CONSOLE_SCREENSHOT=1 writes docs/img/console.png (the README's picture) from the approval test.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { request as httpRequest, createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { startDevBus } from '../packages/server/src/devbus/dev.js';
import type { DevBus } from '../packages/server/src/devbus/dev.js';
import { startConsole } from '../packages/server/src/console/server.js';
import type { Console } from '../packages/server/src/console/server.js';
import { ConsoleConfigError, readUsersFile } from '../packages/server/src/console/auth.js';
import { connectAgent } from '../packages/sdk/src/client.js';
import type { AgentClient } from '../packages/sdk/src/client.js';
import { ContractRegistry } from '../packages/sdk/src/contracts.js';
import { callTool } from '../packages/sdk/src/tools.js';
import { RejectedError } from '../packages/sdk/src/errors.js';
import { Policy, loadManifestDir } from '../packages/protocol/src/manifest.js';
import { approvalArgs } from '../packages/protocol/src/tools/definition.js';
import { ToolResultContract, toolContracts } from '../packages/server/src/common/tool-contracts.js';
import { Task, Result, Deploy, Note, contracts } from './helpers/contracts.js';
import { waitFor, sleep } from './helpers/bus.js';
import { freePort } from './helpers/nats-server.js';
import { cliArgs } from './helpers/cli-bin.js';
import { makeDevCertificates } from '../packages/server/src/common/tls.js';

const root = mkdtempSync(join(tmpdir(), 'agentbus-console-test-'));
const stateDir = join(root, 'dev');
const policyFile = join(root, 'policy.yaml');
const schema = { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path'], additionalProperties: false };
writeFileSync(
  policyFile,
  stringify({
    agents: {
      alice: {
        send: [{ to: 'bob', types: ['task.assign'] }],
        tools: [{ server: 'fs', tools: ['write_file'], args: { path: { path: { roots: ['/srv/project'] } } }, approval: 'required' }],
      },
      bob: { send: [] },
      fs: { send: [{ to: '*', types: ['tool.result'] }], mcp: { tools: [{ name: 'write_file', input_schema: schema, sha256: '0'.repeat(64) }] } },
      operator: { description: 'a person who approves held tool calls', send: [], approve: ['fs'] },
      // monitor mode: what its policy refuses is delivered and listed as "would refuse"
      carol: { enforce: 'monitor', send: [] },
    },
  }),
);

let bus: DevBus;
let browser: Browser;
let agent: (id: string) => Promise<AgentClient>;
let page: Page;
let alice: AgentClient;
let bob: AgentClient;
let fs: AgentClient;
const ran: string[] = []; // what the tool server ran
const consoleLog: string[] = [];
const extra: Console[] = [];
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

test.before(async () => {
  bus = await startDevBus({
    stateDir,
    contracts,
    policyFile,
    withMemory: false,
    quarantine: false,
    logLevel: 'warn',
    // the detectors run when the test says so (evaluate), with a threshold a test reaches quickly
    auditor: { detect: { intervalMs: 3_600_000, thresholdIntervalMs: 0, rules: { rejection_burst: { minRejected: 3, windowMinutes: 60 } } } },
    console: { port: 0 },
  });
  const tc = toolContracts(new Policy(loadManifestDir(bus.manifestsDir)));
  const registry = new ContractRegistry([Task, Result, Deploy, Note, tc.get('tool.fs.write_file')!, ToolResultContract]);
  agent = (id: string) =>
    connectAgent({ servers: bus.url, credentials: bus.credsPath(id), contracts: registry, manifestsDir: bus.manifestsDir, timeoutMs: 5000 });
  fs = await agent('fs');
  alice = await agent('alice');
  bob = await agent('bob');
  void (async () => {
    for await (const m of fs.inbox()) {
      ran.push((m.payload as { path: string }).path);
      await fs.reply(m, 'tool.result', { content: [{ type: 'text', text: 'written' }] }).catch(() => undefined);
    }
  })();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // rebind.test: a name an attacker's DNS points at 127.0.0.1 (DNS rebinding)
    args: ['--host-resolver-rules=MAP rebind.test 127.0.0.1'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(bus.console!.url);
  await page.getByRole('heading', { name: 'Verdict stream' }).waitFor({ timeout: 10_000 });
});

test.after(async () => {
  await browser?.close().catch(() => undefined);
  for (const c of extra) await c.close().catch(() => undefined);
  for (const c of [alice, bob, fs]) await c?.close().catch(() => undefined);
  await bus?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** A rejected message of alice's (note.post to bob: not a type her send rule allows); its msg_id. */
async function refused(text: string): Promise<string> {
  const e = await alice.send('bob', 'note.post', { text }).then(
    () => assert.unreachable('note.post to bob was accepted'),
    (x: unknown) => x,
  );
  assert.instance(e, RejectedError);
  return (e as RejectedError).msgId;
}

/** A GET or POST to a console with the given headers, as a client other than a browser can send them. */
function raw(url: string, o: { method?: string; path: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, method: o.method ?? 'GET', path: o.path, headers: { host: u.host, ...(o.headers ?? {}) }, setHost: false },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    if (o.body) req.write(o.body);
    req.end();
  });
}

test('console - a refused message appears in the verdict stream within 2 s of being sent', async () => {
  await page.getByRole('tab', { name: 'Verdicts' }).click();
  const sent = Date.now();
  const id = await refused('to the stream');
  const row = page.locator(`tr[data-msg-id="${id}"][data-verdict="rejected"]`);
  await row.waitFor({ timeout: Math.max(1, 2000 - (Date.now() - sent)) });
  assert.match((await row.textContent()) ?? '', /destination_not_allowed|type_not_allowed|not_allowed/);
  assert.match((await row.textContent()) ?? '', /alice → bob/);
  // the filter: bob's accepted task shows under verdict=accepted, the refusal does not
  await alice.send('bob', 'task.assign', { title: 'accepted one' });
  await page.locator('select[name=verdict]').selectOption('accepted');
  await page.locator('tr[data-verdict="accepted"]').first().waitFor({ timeout: 3000 });
  assert.is(await page.locator(`tr[data-msg-id="${id}"]`).count(), 0, 'a rejected row passes the verdict=accepted filter');
  await page.locator('select[name=verdict]').selectOption('');
});

test('console - an alert appears with its sentence, evidence and trail; the trail view shows the message', async () => {
  for (let i = 0; i < 3; i++) await refused(`burst ${i}`);
  await waitFor(async () => (await bus.auditor!.lag()) === 0, 15_000, 'the auditor to store every event');
  const raised = await bus.auditor!.evaluate();
  const alert = raised.find((a) => a.rule === 'rejection_burst');
  assert.ok(alert?.sentence, `no rejection_burst alert with a sentence: ${JSON.stringify(raised.map((a) => a.rule))}`);
  await page.getByRole('tab', { name: /Alerts/ }).click();
  const item = page.locator('li.alert', { hasText: alert.sentence });
  await item.waitFor({ timeout: 3000 });
  assert.match((await item.textContent()) ?? '', /rejection_burst/);
  // the audit store's copy (what a page opened later lists) says the same sentence
  const stored = await page.evaluate(
    async () => (await (await fetch('/api/alerts')).json()) as { alerts: { rule: string; sentence: string; msg_ids: string[] }[] },
  );
  const again = stored.alerts.find((a) => a.rule === 'rejection_burst');
  assert.is(again?.sentence, alert.sentence);
  assert.equal(again?.msg_ids.slice().sort(), alert.msg_ids!.slice().sort());
  await item.getByText('Evidence').click();
  assert.match((await item.locator('dl').textContent()) ?? '', /rejected/);
  // its trail, by a click on a msg_id of its evidence
  const first = alert.msg_ids?.[0];
  assert.ok(first, 'the alert names no message');
  await item.getByRole('button', { name: first.slice(0, 8) }).click();
  const trail = page.getByTestId('trail');
  await trail.waitFor({ timeout: 5000 });
  assert.match((await trail.textContent()) ?? '', /rejected/);
  assert.match((await trail.textContent()) ?? '', /alice → bob/);
});

test('console - the graph: agents and edges, the refused ones marked; an agent is a button that filters the stream', async () => {
  // by keyboard: the tabs move with the arrow keys
  await page.getByRole('tab', { name: 'Verdicts' }).click();
  await page.getByRole('tab', { name: 'Verdicts' }).focus();
  await page.keyboard.press('ArrowRight');
  assert.is(await page.getByRole('tab', { name: 'Graph' }).getAttribute('aria-selected'), 'true');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'tab-graph');
  const refusedEdge = page.locator('g.edge.refused', { has: page.locator('title', { hasText: /^alice → bob: \d+ accepted, [1-9]\d* refused$/ }) });
  await refusedEdge.waitFor({ state: 'attached', timeout: 3000 });
  // the same in the table, for keyboards and screen readers
  assert.match((await page.locator('table.edges tr.refused', { hasText: 'alice' }).first().textContent()) ?? '', /alicebob\d+[1-9]\d*/);
  // every agent of the manifests is drawn, the operator too (it sent nothing)
  for (const a of ['alice', 'bob', 'fs', 'operator']) assert.is(await page.getByRole('button', { name: new RegExp(`^${a}(,|:)`) }).count(), 1, a);
  // keyboard: focus alice, Enter: the verdict stream of alice
  await page.getByRole('button', { name: /^alice, \d+ refused attempts/ }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Verdict stream' }).waitFor({ timeout: 2000 });
  assert.is(await page.locator('select[name=agent]').inputValue(), 'alice');
  if (process.env.CONSOLE_SCREENSHOT) {
    await page.getByRole('tab', { name: 'Graph' }).click();
    await page.screenshot({ path: join(tmpdir(), 'agentbus-console-graph.png') });
    await page.getByRole('tab', { name: 'Verdicts' }).click();
  }
  await page.locator('select[name=agent]').selectOption('');
});

test('console - monitor mode: a message delivered although policy refuses it is in the would-refuse list within 2 s', async () => {
  await page.getByRole('tab', { name: /Would refuse/ }).click();
  const carol = await agent('carol');
  try {
    const sent = Date.now();
    const r = await carol.send('bob', 'note.post', { text: 'not in my send rules' });
    assert.ok(r.delivered, 'monitor mode did not deliver it');
    const row = page.getByTestId('would-refuse').locator(`tr[data-msg-id="${r.msgId}"]`);
    await row.waitFor({ timeout: Math.max(1, 2000 - (Date.now() - sent)) });
    assert.match((await row.textContent()) ?? '', /destination_not_allowed/);
    assert.match((await row.textContent()) ?? '', /carol → bob/);
    // the verdict stream marks it, and its filter finds it
    await page.getByRole('tab', { name: 'Verdicts' }).click();
    await page.locator('select[name=verdict]').selectOption('would-refuse');
    assert.match((await page.locator(`tr[data-msg-id="${r.msgId}"]`).textContent()) ?? '', /accepted\s*would refuse/);
    assert.is(await page.locator('tbody tr[data-verdict]').count(), 1);
    await page.locator('select[name=verdict]').selectOption('');
  } finally {
    await carol.close();
  }
});

/** Start a write_file call of alice's (held for approval); resolves with how it ended. */
function heldCall(path: string, content: string): Promise<{ ok: true; text: string } | { ok: false; error: Error }> {
  return callTool(alice, 'fs', 'write_file', { path, content }, { timeoutMs: 60_000 }).then(
    (r) => ({ ok: true as const, text: JSON.stringify(r) }),
    (e: Error) => ({ ok: false as const, error: e }),
  );
}
const card = (path: string) => page.locator('li.held', { hasText: path });

test('console - a held tool call appears with its full canonical arguments and digest; approved by a click, it runs', async () => {
  // a no-break space in the content: shown as an escape, never as a space
  const path = '/srv/project/approved.txt';
  const content = 'hello\u00a0world';
  const call = heldCall(path, content);
  const c = card(path);
  await Promise.race([
    c.waitFor({ timeout: 5000 }),
    call.then((r) => assert.unreachable(`the call ended before it showed: ${JSON.stringify(r.ok ? r.text : r.error.message)}`)),
  ]);
  const args = (await c.locator('pre.args').textContent()) ?? '';
  assert.ok(args.includes('hello\\u{a0}world'), `the invisible character is not escaped: ${args}`);
  // indented JSON, one key a line: the indentation's line breaks are not escaped, the content's space is
  assert.is(args, `{\n  "content": "hello\\u{a0}world",\n  "path": "${path}"\n}`);
  const canonical = approvalArgs({ path, content });
  assert.is((await c.locator('[data-role=sha]').textContent())?.trim(), sha(canonical));
  assert.match((await c.locator('.countdown').textContent()) ?? '', /\d:\d\d left/);
  assert.is(ran.includes(path), false, 'the call ran before anyone approved it');
  await c.getByLabel('Reason').fill('looks right');
  if (process.env.CONSOLE_SCREENSHOT) {
    await page.getByRole('tab', { name: 'Verdicts' }).click();
    mkdirSync(join(process.cwd(), 'docs', 'img'), { recursive: true });
    await page.screenshot({ path: join(process.cwd(), 'docs', 'img', 'console.png') });
  }
  await c.getByRole('button', { name: 'Approve' }).click();
  const r = await call;
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.ok(ran.includes(path), 'the approved call did not run');
  await c.waitFor({ state: 'detached', timeout: 3000 });
  assert.match((await page.locator('.decided').textContent()) ?? '', /approved by local:/);
  // the audit trail records the approver and the person who clicked
  await waitFor(async () => (await bus.auditor!.lag()) === 0, 15_000, 'the auditor');
  const rows = await bus.auditor!.store.query<{ delivery: string; detail: string }>(
    `SELECT toString(delivery) AS delivery, detail FROM ${bus.auditor!.store.table('audit_deliveries')} FINAL WHERE detail LIKE 'approved by %' AND detail LIKE '%looks right%'`,
  );
  assert.is(rows.length, 1, JSON.stringify(rows));
  assert.match(rows[0]!.detail, /^approved by operator \(approval [0-9a-f]{32}\): console user local:\S+: looks right$/);
});

test('console - a denial with a reason refuses the call; it never runs', async () => {
  const path = '/srv/project/denied.txt';
  const call = heldCall(path, 'rm -rf');
  const c = card(path);
  await c.waitFor({ timeout: 5000 });
  await c.getByLabel('Reason').fill('not today');
  await c.getByRole('button', { name: 'Deny' }).click();
  const r = await call;
  assert.not.ok(r.ok, 'a denied call was answered');
  if (!r.ok) {
    assert.instance(r.error, RejectedError);
    assert.is((r.error as RejectedError).reasonName, 'approval_denied');
    assert.match((r.error as RejectedError).detail, /denied by operator \(approval [0-9a-f]{32}\): console user local:\S+: not today/);
  }
  await sleep(300);
  assert.not.ok(ran.includes(path), 'a denied call ran');
});

test('console - approving what the screen did not show is impossible: another digest is refused by the verifier, the call never runs', async () => {
  const path = '/srv/project/swapped.txt';
  const call = heldCall(path, 'shown');
  const c = card(path);
  await c.waitFor({ timeout: 5000 });
  const msgId = await c.getAttribute('data-msg-id');
  // a page (or a script in it) posts the digest of other arguments than the ones shown
  const other = sha(approvalArgs({ path: '/srv/project/run.sh', content: 'not shown' }));
  const res = await page.evaluate(
    async ([id, digest]) => {
      const r = await fetch(`/api/approvals/${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ approve: true, args_sha256: digest }),
      });
      return { status: r.status, body: await r.json() };
    },
    [msgId!, other] as const,
  );
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.is((res.body as { applied: boolean }).applied, false, 'an approval of another digest was applied');
  const r = await call;
  assert.not.ok(r.ok, 'the call was answered');
  if (!r.ok) {
    assert.is((r.error as RejectedError).reasonName, 'approval_denied');
    assert.match((r.error as RejectedError).detail, /for arguments sha256:[0-9a-f]{16}…, but the held call's are/);
  }
  await sleep(300);
  assert.not.ok(ran.includes(path), 'a call approved for other arguments ran');
});

test('console - requests from another origin or host are refused (CSRF, DNS rebinding) unless configured', async () => {
  const url = bus.console!.url;
  const port = new URL(url).port;
  // another Host: a rebinding page's requests carry its own name
  const rebound = await raw(url, { path: '/api/session', headers: { host: `rebind.test:${port}` } });
  assert.is(rebound.status, 403);
  assert.match(JSON.parse(rebound.body).error, /Host "rebind\.test:\d+" is not this console's/);
  // another Origin, on a read and on a decision
  const read = await raw(url, { path: '/api/session', headers: { origin: 'http://evil.example' } });
  assert.is(read.status, 403);
  assert.match(JSON.parse(read.body).error, /Origin "http:\/\/evil\.example" is not this console's/);
  const path = '/srv/project/csrf.txt';
  const call = heldCall(path, 'csrf');
  const c = card(path);
  await c.waitFor({ timeout: 5000 });
  const msgId = (await c.getAttribute('data-msg-id'))!;
  const digest = (await c.locator('[data-role=sha]').textContent())!.trim();
  const body = JSON.stringify({ approve: true, args_sha256: digest });
  const csrf = await raw(url, {
    method: 'POST',
    path: `/api/approvals/${msgId}`,
    headers: { origin: 'http://evil.example', 'content-type': 'application/json' },
    body,
  });
  assert.is(csrf.status, 403);
  // a POST with no Origin at all (not a browser, or an old one): refused too
  const bare = await raw(url, { method: 'POST', path: `/api/approvals/${msgId}`, headers: { 'content-type': 'application/json' }, body });
  assert.is(bare.status, 403);
  assert.match(bare.body, /must carry an Origin/);
  // in a real browser: the console's page under the rebinding name is refused
  const evilPage = await browser.newPage();
  const resp = await evilPage.goto(`http://rebind.test:${port}/`);
  assert.is(resp?.status(), 403);
  // and a page of another origin that posts to the console (no-cors, as a form would) decides nothing
  const attacker: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>attacker</title>');
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', () => r()));
  const aport = (attacker.address() as { port: number }).port;
  await evilPage.goto(`http://rebind.test:${aport}/`);
  await evilPage.evaluate(
    async ([target, b]) => {
      await fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: b }).catch(() => undefined);
    },
    [`${url}api/approvals/${msgId}`, body] as const,
  );
  await evilPage.close();
  attacker.close();
  await sleep(500);
  assert.ok(await c.isVisible(), 'the held call was decided by a request from another origin');
  assert.not.ok(ran.includes(path));
  // configured: a console that answers to that origin accepts it
  const allowed = await startConsole({
    servers: bus.url,
    observer: bus.observerCreds,
    manifestsDir: bus.manifestsDir,
    allowedOrigins: ['http://evil.example'],
    log: (l) => void consoleLog.push(l),
  });
  extra.push(allowed);
  const ok = await raw(allowed.url, { path: '/api/session', headers: { origin: 'http://evil.example' } });
  assert.is(ok.status, 200, ok.body);
  // deny the held call from the page, to leave nothing waiting
  await c.getByRole('button', { name: 'Deny' }).click();
  const r = await call;
  assert.not.ok(r.ok);
});

test('console - a non-loopback bind needs TLS and users; with users, a login sets an HttpOnly SameSite=Strict cookie and no secret goes in a URL', async () => {
  const base = { servers: bus.url, observer: bus.observerCreds, manifestsDir: bus.manifestsDir };
  await startConsole({ ...base, host: '0.0.0.0' }).then(
    () => assert.unreachable('a console listened on 0.0.0.0 without TLS'),
    (e: unknown) => {
      assert.instance(e, ConsoleConfigError);
      assert.match((e as Error).message, /needs TLS/);
    },
  );
  const usersFile = join(root, 'users');
  writeFileSync(usersFile, '# the people who may log in\nann s3cret-token-of-ann-0123\n', { mode: 0o600 });
  const users = readUsersFile(usersFile, 0o600);
  assert.throws(() => readUsersFile(usersFile, 0o644), /other users can read it/);
  const withLogin = await startConsole({ ...base, users, approverCredsFile: bus.credsPath('operator'), log: (l) => void consoleLog.push(l) });
  extra.push(withLogin);
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await p.goto(withLogin.url);
  // the API answers nothing without a session
  const anon = await raw(withLogin.url, { path: '/api/events' });
  assert.is(anon.status, 401);
  await p.getByLabel('User').fill('ann');
  await p.getByLabel('Token').fill('wrong-token-wrong-token');
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByText('wrong user name or token').waitFor({ timeout: 3000 });
  await p.getByLabel('Token').fill('s3cret-token-of-ann-0123');
  await p.getByRole('button', { name: 'Log in' }).click();
  await p.getByRole('heading', { name: 'Verdict stream' }).waitFor({ timeout: 5000 });
  const cookies = await p.context().cookies();
  const session = cookies.find((k) => k.name === 'agentbus_console');
  assert.ok(session, 'no session cookie');
  assert.is(session.httpOnly, true);
  assert.is(session.sameSite, 'Strict');
  assert.not.ok(p.url().includes('s3cret'), 'the token is in the URL');
  assert.not.ok(consoleLog.join('\n').includes('s3cret'), 'the token is in the log');
  assert.not.ok(consoleLog.join('\n').includes(session.value), 'the session id is in the log');
  assert.ok(consoleLog.some((l) => l.includes('ann logged in')));
  // a decision names ann
  const path = '/srv/project/ann.txt';
  const call = heldCall(path, 'by ann');
  const c = p.locator('li.held', { hasText: path });
  await c.waitFor({ timeout: 5000 });
  await c.getByLabel('Reason').fill('checked');
  await c.getByRole('button', { name: 'Approve' }).click();
  const r = await call;
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  await p.close();
  // the page of the first console also saw it go
  await card(path).waitFor({ state: 'detached', timeout: 5000 });
  assert.ok(ran.includes(path));
});

test('console - TLS on every address: it answers only to the origin named, its cookie is Secure, and the CLI refuses a wide bind without TLS', async () => {
  const tls = makeDevCertificates(join(root, 'tls'));
  const port = await freePort();
  const users = [{ name: 'ann', token: 's3cret-token-of-ann-0123' }];
  const base = { servers: bus.url, observer: bus.observerCreds, manifestsDir: bus.manifestsDir, users, host: '0.0.0.0', port };
  await startConsole({ ...base, tls }).then(
    () => assert.unreachable('a console listened on every address without a named origin'),
    (e: unknown) => assert.match((e as Error).message, /--allow-origin/),
  );
  const wide = await startConsole({ ...base, tls, allowedOrigins: [`https://localhost:${port}`] });
  extra.push(wide);
  assert.is(wide.url, `https://localhost:${port}/`);
  const ca = readFileSync(tls.caFile);
  const https = (path: string, o: { method?: string; host?: string; headers?: Record<string, string>; body?: string } = {}) =>
    new Promise<{ status: number; body: string; cookie: string[] }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'localhost',
          port,
          ca,
          method: o.method ?? 'GET',
          path,
          headers: { host: o.host ?? `localhost:${port}`, ...(o.headers ?? {}) },
        },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cookie: res.headers['set-cookie'] ?? [] }));
        },
      );
      req.on('error', reject);
      if (o.body) req.write(o.body);
      req.end();
    });
  assert.is((await https('/api/session', { host: `127.0.0.1:${port}` })).status, 403, 'a Host not named was answered');
  const login = await https('/api/login', {
    method: 'POST',
    headers: { origin: `https://localhost:${port}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'ann', token: 's3cret-token-of-ann-0123' }),
  });
  assert.is(login.status, 200, login.body);
  assert.match(login.cookie[0] ?? '', /^agentbus_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200; Secure$/);
  const me = await https('/api/session', { headers: { cookie: login.cookie[0]!.split(';')[0]! } });
  assert.is(JSON.parse(me.body).user, 'ann');
  // the CLI: a wide bind without TLS, one line, exit 1
  const r = spawnSync(process.execPath, cliArgs('console', '--state-dir', stateDir, '--host', '0.0.0.0', '--port', '0', '--no-approvals', '--no-history'), {
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stderr.trim(), 'agentbus: --host 0.0.0.0 is not loopback: the console then needs TLS (--tls-cert and --tls-key)');
});

test.run();
