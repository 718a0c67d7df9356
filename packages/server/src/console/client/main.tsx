// The console's page (docs/console.md): one Preact app over the console's JSON API and its event
// stream (/api/events: a snapshot, then every verdict, alert and held call as it happens).
// Everything an agent chose (names, types, details, arguments) is rendered as text, never as
// markup, with invisible characters escaped.
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Graph } from './graph.js';
import type { GraphEdge } from './graph.js';
import { Head } from './table.js';
import { dest, vis } from './types.js';
import type { AgentInfo, Alert, EdgeRow, Held, Session, Snapshot, TrailRow, Verdict, WouldRefuseRow } from './types.js';

const MAX_VERDICTS = 2000;
const SHOWN_VERDICTS = 300;
type View = 'verdicts' | 'graph' | 'alerts' | 'trail' | 'monitor';
const VIEWS: { id: View; label: string }[] = [
  { id: 'verdicts', label: 'Verdicts' },
  { id: 'graph', label: 'Graph' },
  { id: 'alerts', label: 'Alerts' },
  { id: 'trail', label: 'Trail' },
  { id: 'monitor', label: 'Would refuse' },
];

async function api<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T> {
  const res = await fetch(path, {
    method: init?.method ?? 'GET',
    credentials: 'same-origin',
    headers: init?.body !== undefined ? { 'content-type': 'application/json' } : {},
    ...(init?.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${res.status}`);
  return body;
}

const clock = (iso: string | undefined) => {
  const d = new Date(iso ?? '');
  return Number.isNaN(d.getTime()) ? '?' : d.toLocaleTimeString(undefined, { hour12: false });
};
const alertKey = (a: Alert) => a.alert_id ?? `${a.rule}|${a.detected_at}|${(a.agents ?? []).join(',')}`;
const verdictClass = (v: string) => (v === 'accepted' ? 'ok' : v === 'rejected' || v === 'shed' ? 'bad' : 'warn');

// ---------------------------------------------------------------------------------------------

function Login(props: { onDone: () => void }) {
  const [error, setError] = useState('');
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    try {
      await api('/api/login', { method: 'POST', body: { user: f.get('user'), token: f.get('token') } });
      props.onDone();
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <main class="login">
      <h1>agentbus console</h1>
      <form onSubmit={submit}>
        <label>
          User <input name="user" autocomplete="username" required />
        </label>
        <label>
          Token <input name="token" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Log in</button>
        {error ? (
          <p role="alert" class="error">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}

function Filters(props: { verdicts: Verdict[]; f: Record<string, string>; set: (k: string, v: string) => void }) {
  const options = (pick: (v: Verdict) => string) => [...new Set(props.verdicts.map(pick).filter(Boolean))].sort();
  const agents = [...new Set(props.verdicts.flatMap((v) => [v.sender, v.recipient]).filter(Boolean))].sort();
  const sel = (k: string, label: string, values: string[]) => (
    <label>
      {label}{' '}
      <select name={k} value={props.f[k] ?? ''} onChange={(e) => props.set(k, (e.target as HTMLSelectElement).value)}>
        <option value="">any</option>
        {[...new Set([...(props.f[k] ? [props.f[k]!] : []), ...values])].map((x) => (
          <option key={x} value={x}>
            {vis(x, 60)}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <fieldset class="filters">
      <legend>Filter</legend>
      {sel('agent', 'Agent', agents)}
      {sel(
        'type',
        'Type',
        options((v) => v.type),
      )}
      {sel('verdict', 'Verdict', ['accepted', 'rejected', 'duplicate', 'shed', 'would-refuse'])}
      {sel(
        'reason',
        'Reason',
        options((v) => v.reason),
      )}
    </fieldset>
  );
}

function Verdicts(props: {
  verdicts: Verdict[];
  f: Record<string, string>;
  set: (k: string, v: string) => void;
  openTrail: (id: string) => void;
  skipped: number;
}) {
  const { f } = props;
  const shown = useMemo(() => {
    const out: Verdict[] = [];
    for (let i = props.verdicts.length - 1; i >= 0 && out.length < SHOWN_VERDICTS; i--) {
      const v = props.verdicts[i]!;
      if (f['agent'] && v.sender !== f['agent'] && v.recipient !== f['agent']) continue;
      if (f['type'] && v.type !== f['type']) continue;
      if (f['verdict'] && (f['verdict'] === 'would-refuse' ? !v.would_refuse : v.verdict !== f['verdict'])) continue;
      if (f['reason'] && v.reason !== f['reason']) continue;
      out.push(v);
    }
    return out;
  }, [props.verdicts, f]);
  return (
    <section aria-labelledby="verdicts-h">
      <h2 id="verdicts-h">Verdict stream</h2>
      <Filters verdicts={props.verdicts} f={f} set={props.set} />
      {props.skipped ? (
        <p class="note">
          {props.skipped} verdicts arrived faster than this page shows them (more than 5000 a second) and are not listed: the audit store has every one.
        </p>
      ) : null}
      <table class="verdicts" data-testid="verdicts">
        <Head cols={['time', 'verdict', 'reason', 'from → to', 'type', 'msg_id']} />
        <tbody>
          {shown.map((v) => (
            <tr key={v.event_id} class={verdictClass(v.verdict)} data-msg-id={v.msg_id} data-verdict={v.verdict}>
              <td>{clock(v.time)}</td>
              <td>
                <span class={`badge ${verdictClass(v.verdict)}`}>{v.verdict === 'shed' ? `shed×${v.shed_count}` : v.verdict}</span>
                {v.would_refuse ? <span class="badge warn">would refuse</span> : null}
              </td>
              <td title={vis(v.detail, 1000)}>
                {v.would_refuse || v.reason || '–'}
                {v.detail ? <div class="detail">{vis(v.detail, 160)}</div> : null}
              </td>
              <td>
                {vis(v.sender || '?', 40)} → {vis(dest(v), 50)}
              </td>
              <td>{vis(v.type || '–', 50)}</td>
              <td>
                {v.msg_id ? (
                  <button type="button" class="link mono" onClick={() => props.openTrail(v.msg_id)} aria-label={`trail of ${v.msg_id}`}>
                    {v.msg_id.slice(0, 8)}
                  </button>
                ) : (
                  '–'
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown.length === 0 ? <p class="empty">No verdicts {Object.values(f).some(Boolean) ? 'match the filter' : 'yet'}.</p> : null}
    </section>
  );
}

function Alerts(props: { alerts: Alert[]; openTrail: (id: string) => void; history: string }) {
  return (
    <section aria-labelledby="alerts-h">
      <h2 id="alerts-h">Alerts</h2>
      {props.history ? <p class="note">{props.history}</p> : null}
      {props.alerts.length === 0 ? <p class="empty">No alerts.</p> : null}
      <ol class="alerts" data-testid="alerts">
        {props.alerts.map((a) => {
          const ids = a.msg_ids ?? (Array.isArray(a.evidence?.['msg_ids']) ? (a.evidence!['msg_ids'] as string[]) : []);
          return (
            <li key={alertKey(a)} class={`alert sev-${vis(a.severity, 20)}`}>
              <div class="alert-head">
                <span class={`badge sev-${vis(a.severity, 20)}`}>{vis(a.severity ?? '?', 20)}</span> <strong>{vis(a.rule ?? '?', 60)}</strong>{' '}
                <span class="muted">
                  {clock(a.detected_at)} · {vis((a.agents ?? []).join(', ') || 'no agent', 200)}
                </span>
              </div>
              <p class="sentence">{vis(a.sentence ?? '(no sentence)', 600)}</p>
              <details>
                <summary>Evidence</summary>
                <dl>
                  {Object.entries(a.evidence ?? {}).map(([k, v]) => (
                    <>
                      <dt key={`${k}-k`}>{vis(k, 60)}</dt>
                      <dd key={`${k}-v`}>{vis(typeof v === 'object' ? JSON.stringify(v) : v, 400)}</dd>
                    </>
                  ))}
                </dl>
              </details>
              {ids.length ? (
                <p class="trail-links">
                  Trail:{' '}
                  {ids.slice(0, 5).map((id) => (
                    <button key={id} type="button" class="link mono" onClick={() => props.openTrail(id)}>
                      {vis(id, 32).slice(0, 8)}
                    </button>
                  ))}
                </p>
              ) : null}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function Trail(props: { id: string; setId: (id: string) => void }) {
  const [rows, setRows] = useState<TrailRow[] | undefined>();
  const [round, setRound] = useState(0); // Show again: the store may have more rows by now
  const [error, setError] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    setRows(undefined);
    setError('');
    if (!props.id) return;
    let live = true;
    api<{ rows: TrailRow[] }>(`/api/trail/${encodeURIComponent(props.id)}`).then(
      (r) => live && setRows(r.rows),
      (e: Error) => live && setError(e.message),
    );
    return () => void (live = false);
  }, [props.id, round]);
  return (
    <section aria-labelledby="trail-h">
      <h2 id="trail-h">Trail of a message</h2>
      <form
        class="trail-form"
        onSubmit={(e) => {
          e.preventDefault();
          const id = (input.current?.value ?? '').trim().toLowerCase();
          if (id === props.id) setRound((r) => r + 1);
          else props.setId(id);
        }}
      >
        <label>
          msg_id <input key={props.id} ref={input} name="msg_id" defaultValue={props.id} size={36} pattern="[0-9a-fA-F]{32}" class="mono" />
        </label>
        <button type="submit">Show</button>
      </form>
      {error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      {rows && rows.length === 0 ? <p class="empty">The audit store has no row of {props.id} (yet: it is stored within seconds).</p> : null}
      {rows?.length ? (
        <table class="trail" data-testid="trail">
          <Head cols={['relation', 'time', 'verdict', 'reason', 'from → to', 'type', 'msg_id', 'depth']} />
          <tbody>
            {rows.map((r, i) => (
              <tr key={i} class={verdictClass(r.verdict)}>
                <td>{r.relation}</td>
                <td>{vis(r.time, 30)}</td>
                <td>
                  <span class={`badge ${verdictClass(r.verdict)}`}>{r.verdict}</span>
                </td>
                <td>{r.reason || '–'}</td>
                <td>
                  {vis(r.sender, 40)} → {vis(r.destination, 50)}
                </td>
                <td>{vis(r.type, 50)}</td>
                <td>
                  <button type="button" class="link mono" onClick={() => props.setId(r.msg_id)}>
                    {r.msg_id.slice(0, 8)}
                  </button>
                </td>
                <td>{r.depth}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function Monitor(props: { live: Verdict[]; openTrail: (id: string) => void }) {
  // Monitor mode (docs/design.md §18): what a verifier delivered for an agent in monitor mode
  // although its policy refuses it — the audit store's last 24 h, and what arrived since
  const [stored, setStored] = useState<WouldRefuseRow[]>([]);
  const [note, setNote] = useState('');
  useEffect(() => {
    api<{ rows: WouldRefuseRow[] }>('/api/would-refuse').then(
      (r) => setStored(r.rows),
      (e: Error) => setNote(`Earlier ones are not shown: ${e.message}`),
    );
  }, []);
  const rows = useMemo(() => {
    const seen = new Set<string>();
    const out: WouldRefuseRow[] = [];
    for (let i = props.live.length - 1; i >= 0; i--) {
      const v = props.live[i]!;
      if (!v.would_refuse || seen.has(v.event_id)) continue;
      seen.add(v.event_id);
      out.push({
        time: v.time,
        would_refuse: v.would_refuse,
        detail: v.detail,
        sender: v.sender,
        destination: dest(v),
        type: v.type,
        msg_id: v.msg_id,
        event_id: v.event_id,
      });
    }
    for (const r of stored) if (!seen.has(r.event_id)) out.push(r);
    return out;
  }, [props.live, stored]);
  return (
    <section aria-labelledby="monitor-h" data-testid="would-refuse">
      <h2 id="monitor-h">Would refuse (monitor mode)</h2>
      <p class="muted">
        Messages of agents in monitor mode that were delivered although their policy refuses them, with the reason enforcing would give. Fix the manifest (or
        the agent) until this list stays empty, then enforce (docs/monitor-mode.md).
      </p>
      {note ? <p class="note">{note}</p> : null}
      {rows.length === 0 ? <p class="empty">Nothing would have been refused.</p> : null}
      {rows.length ? (
        <table class="verdicts">
          <Head cols={['time', 'would refuse', 'from → to', 'type', 'msg_id']} />
          <tbody>
            {rows.map((r) => (
              <tr key={r.event_id} class="warn" data-msg-id={r.msg_id}>
                <td>{clock(r.time)}</td>
                <td>
                  <span class="badge warn">{vis(r.would_refuse, 40)}</span>
                  {r.detail ? <div class="detail">{vis(r.detail, 160)}</div> : null}
                </td>
                <td>
                  {vis(r.sender, 40)} → {vis(r.destination, 50)}
                </td>
                <td>{vis(r.type, 50)}</td>
                <td>
                  <button type="button" class="link mono" onClick={() => props.openTrail(r.msg_id)} aria-label={`trail of ${r.msg_id}`}>
                    {r.msg_id.slice(0, 8)}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}

function HeldCard(props: { h: Held; offset: number; now: number; approver: string }) {
  const { h } = props;
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const shaEl = useRef<HTMLElement>(null);
  const left = Math.max(0, Math.round((Date.parse(h.expires_at) - (props.now + props.offset)) / 1000));
  const decide = async (approve: boolean) => {
    setBusy(true);
    setError('');
    try {
      // what is signed is the digest this card shows, read from the screen itself
      const shown = shaEl.current?.textContent?.trim() ?? '';
      await api(`/api/approvals/${h.msg_id}`, { method: 'POST', body: { approve, reason, ...(approve ? { args_sha256: shown } : {}) } });
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };
  const id = `held-${h.msg_id}`;
  const cannot = h.own ? `${props.approver} made this call: another approver must decide it (four eyes)` : undefined;
  return (
    <li class="held" aria-labelledby={`${id}-h`} data-msg-id={h.msg_id}>
      <h3 id={`${id}-h`}>
        {vis(h.caller, 40)} → {vis(h.server, 40)}.{vis(h.tool, 60)}
      </h3>
      <p class="muted">
        <span class="mono">{h.msg_id}</span> ·{' '}
        <span class={left < 20 ? 'countdown urgent' : 'countdown'} role="timer" aria-live="off">
          {left > 0 ? `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')} left` : 'expiring'}
        </span>
      </p>
      <p class="muted small">Arguments (canonical JSON; invisible characters escaped):</p>
      <pre class="args">{h.args_shown}</pre>
      <p class="sha">
        sha256{' '}
        <code ref={shaEl} data-role="sha">
          {h.args_sha256}
        </code>
      </p>
      {h.unshowable ? (
        <p class="error" role="alert">
          Cannot be approved: {h.unshowable}
        </p>
      ) : null}
      {cannot ? <p class="note">{cannot}</p> : null}
      <label class="reason">
        Reason{' '}
        <input
          value={reason}
          maxLength={400}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          disabled={busy || !!cannot}
          aria-describedby={`${id}-h`}
        />
      </label>
      <div class="actions">
        <button type="button" class="approve" disabled={busy || !!cannot || !!h.unshowable} onClick={() => decide(true)}>
          Approve
        </button>
        <button type="button" class="deny" disabled={busy || !!cannot} onClick={() => decide(false)}>
          Deny
        </button>
      </div>
      {error ? (
        <p class="error" role="alert">
          {error}
        </p>
      ) : null}
    </li>
  );
}

function Approvals(props: { held: Held[]; approver: string | null; offset: number; decided: string[] }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <aside class="approvals" aria-labelledby="approvals-h" data-testid="approvals">
      <h2 id="approvals-h">
        Held calls <span class={props.held.length ? 'count' : 'count zero'}>{props.held.length}</span>
      </h2>
      {props.approver ? (
        <p class="muted">Decisions are signed as {vis(props.approver, 64)} and decided by the verifier.</p>
      ) : (
        <p class="note">Approvals are off: this console holds no approver credentials (agentbus console --approver NAME).</p>
      )}
      {props.held.length === 0 ? <p class="empty">No tool call waits for approval.</p> : null}
      <ol>
        {props.held.map((h) => (
          <HeldCard key={h.msg_id} h={h} offset={props.offset} now={now} approver={props.approver ?? ''} />
        ))}
      </ol>
      {props.decided.length ? (
        <div aria-live="polite" class="decided">
          <h3>Recently</h3>
          <ul>
            {props.decided.map((d, i) => (
              <li key={i}>{d}</li>
            ))}
          </ul>
        </div>
      ) : null}
    </aside>
  );
}

// ---------------------------------------------------------------------------------------------

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [error, setError] = useState('');
  const load = useCallback(() => {
    api<Session>('/api/session').then(setSession, (e: Error) => setError(e.message));
  }, []);
  useEffect(load, [load]);
  if (error)
    return (
      <p role="alert" class="error">
        {error}
      </p>
    );
  if (!session) return <p class="boot">Loading…</p>;
  if (!session.user) return <Login onDone={load} />;
  return <Live session={session} />;
}

function Live(props: { session: Session }) {
  const [view, setView] = useState<View>('verdicts');
  const [verdicts, setVerdicts] = useState<Verdict[]>([]);
  const [alerts, setAlerts] = useState<Map<string, Alert>>(new Map());
  const [held, setHeld] = useState<Held[]>([]);
  const [decided, setDecided] = useState<string[]>([]);
  const [nats, setNats] = useState('connecting');
  const [skipped, setSkipped] = useState(0);
  const [offset, setOffset] = useState(0);
  const [filters, setFilters] = useState<Record<string, string>>({});
  const [trailId, setTrailId] = useState('');
  const [agents, setAgents] = useState<string[]>([]);
  const [history, setHistory] = useState<EdgeRow[]>([]);
  const [storeNote, setStoreNote] = useState('');

  useEffect(() => {
    const es = new EventSource('/api/events');
    es.addEventListener('snapshot', (e) => {
      const s = JSON.parse((e as MessageEvent).data) as Snapshot;
      setOffset(Date.parse(s.now) - Date.now());
      setVerdicts(s.verdicts);
      setHeld(s.held);
      setNats(s.nats);
      setAlerts((m) => {
        const n = new Map(m);
        for (const a of s.alerts) n.set(alertKey(a), a);
        return n;
      });
    });
    es.addEventListener('verdicts', (e) => {
      const b = JSON.parse((e as MessageEvent).data) as { verdicts: Verdict[]; skipped: number };
      setVerdicts((old) => [...old, ...b.verdicts].slice(-MAX_VERDICTS));
      if (b.skipped) setSkipped((n) => n + b.skipped);
    });
    es.addEventListener('alert', (e) => {
      const a = JSON.parse((e as MessageEvent).data) as Alert;
      setAlerts((m) => new Map(m).set(alertKey(a), a));
    });
    es.addEventListener('held', (e) => {
      const h = JSON.parse((e as MessageEvent).data) as Held;
      setHeld((old) => [...old.filter((x) => x.msg_id !== h.msg_id), h]);
    });
    es.addEventListener('gone', (e) => {
      const g = JSON.parse((e as MessageEvent).data) as { msg_id: string; why: string };
      setHeld((old) => {
        const h = old.find((x) => x.msg_id === g.msg_id);
        if (h) setDecided((d) => [`${h.caller} → ${h.server}.${h.tool} (${g.msg_id.slice(0, 8)}): ${g.why}`, ...d].slice(0, 8));
        return old.filter((x) => x.msg_id !== g.msg_id);
      });
    });
    es.addEventListener('status', (e) => setNats((JSON.parse((e as MessageEvent).data) as { nats: string }).nats));
    es.onerror = () => {
      setNats('reconnecting');
      // a session that ended (logged out elsewhere, expired): back to the login form
      api<Session>('/api/session').then(
        (s) => !s.user && location.reload(),
        () => undefined,
      );
    };
    api<{ agents: AgentInfo[]; edges: EdgeRow[] }>('/api/graph').then(
      (g) => {
        setAgents(g.agents.map((a) => a.id));
        setHistory(g.edges);
      },
      () => undefined,
    );
    api<{ alerts: Alert[] }>('/api/alerts').then(
      (r) =>
        setAlerts((m) => {
          const n = new Map(m);
          for (const a of r.alerts) if (!n.has(alertKey(a))) n.set(alertKey(a), a);
          return n;
        }),
      (e: Error) => setStoreNote(`Earlier alerts are not shown: ${e.message}`),
    );
    return () => es.close();
  }, []);

  // the graph: the store's edges (the last 24 h) plus what arrived since the page opened
  const edges = useMemo(() => {
    const m = new Map<string, GraphEdge>();
    for (const e of history)
      m.set(`${e.sender}>${e.destination}`, { sender: e.sender, destination: e.destination, accepted: e.accepted, rejected: e.rejected });
    for (const v of verdicts) {
      if (!v.sender || (!v.recipient && !v.topic)) continue;
      const d = dest(v);
      const k = `${v.sender}>${d}`;
      const e = m.get(k) ?? { sender: v.sender, destination: d, accepted: 0, rejected: 0 };
      if (v.verdict === 'accepted') e.accepted++;
      else if (v.verdict === 'rejected' || v.verdict === 'shed') e.rejected += Math.max(1, v.shed_count || 0);
      m.set(k, e);
    }
    return [...m.values()];
  }, [history, verdicts]);
  const wouldRefuse = useMemo(() => verdicts.filter((v) => v.would_refuse).length, [verdicts]);
  const alertList = useMemo(() => [...alerts.values()].sort((a, b) => (b.detected_at ?? '').localeCompare(a.detected_at ?? '')), [alerts]);
  const openTrail = (id: string) => {
    setTrailId(id);
    setView('trail');
  };
  const setFilter = (k: string, v: string) => setFilters((f) => ({ ...f, [k]: v }));
  const tabs = useRef<HTMLDivElement>(null);
  const onTabKey = (e: KeyboardEvent) => {
    if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
    const i = VIEWS.findIndex((v) => v.id === view);
    const next = VIEWS[(i + (e.key === 'ArrowRight' ? 1 : VIEWS.length - 1)) % VIEWS.length]!;
    setView(next.id);
    (tabs.current?.querySelector(`#tab-${next.id}`) as HTMLElement | null)?.focus();
  };
  return (
    <div class="shell">
      <header>
        <h1>agentbus console</h1>
        <div role="tablist" aria-label="Views" ref={tabs} onKeyDown={onTabKey}>
          {VIEWS.map((v) => (
            <button
              key={v.id}
              id={`tab-${v.id}`}
              type="button"
              role="tab"
              aria-selected={view === v.id}
              aria-controls="view"
              tabIndex={view === v.id ? 0 : -1}
              onClick={() => setView(v.id)}
            >
              {v.label}
              {v.id === 'alerts' && alerts.size ? <span class="count">{alerts.size}</span> : null}
              {v.id === 'monitor' && wouldRefuse ? <span class="count">{wouldRefuse}</span> : null}
            </button>
          ))}
        </div>
        <span class={`status ${nats === 'connected' ? 'ok' : 'bad'}`} role="status">
          bus {nats}
        </span>
        <span class="user">
          {vis(props.session.user, 64)}
          {props.session.login_required ? (
            <button type="button" class="link" onClick={() => api('/api/logout', { method: 'POST', body: {} }).then(() => location.reload())}>
              log out
            </button>
          ) : null}
        </span>
      </header>
      <main id="view">
        <div role="tabpanel" aria-labelledby={`tab-${view}`}>
          {view === 'verdicts' ? <Verdicts verdicts={verdicts} f={filters} set={setFilter} openTrail={openTrail} skipped={skipped} /> : null}
          {view === 'graph' ? (
            <section aria-labelledby="graph-h">
              <h2 id="graph-h">Agents and edges</h2>
              <Graph
                agents={agents}
                edges={edges}
                onAgent={(id) => {
                  setFilters({ agent: id });
                  setView('verdicts');
                }}
              />
            </section>
          ) : null}
          {view === 'alerts' ? <Alerts alerts={alertList} openTrail={openTrail} history={storeNote} /> : null}
          {view === 'trail' ? <Trail id={trailId} setId={setTrailId} /> : null}
          {view === 'monitor' ? <Monitor live={verdicts} openTrail={openTrail} /> : null}
        </div>
      </main>
      <Approvals held={held} approver={props.session.approver} offset={offset} decided={decided} />
    </div>
  );
}

render(<App />, document.getElementById('app')!);
