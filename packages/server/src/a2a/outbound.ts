// Outbound: a bus agent calls an external A2A agent through the gateway (docs/design.md §17). The
// call is the tool call `tool.<gateway>.send_message` { url, text?, data?, context_id? }: the
// verifier has already checked it against the caller's own `tools:` policy (the `url` rule of
// §11: schemes, hosts, no private, loopback, link-local or metadata address in any spelling),
// and the gateway checks again here, where it connects:
//   1. the caller's policy once more (a manifest changed in between), on the URL and later on
//      the card's own interface URL;
//   2. the addresses a host name resolves to (public unicast only: a name that resolves to a
//      private address is refused), and again by the resolver of the connection itself
//      (publicOnlyLookup: a name re-pointed between the check and the connection — DNS
//      rebinding — fails to connect);
//   3. the card: it must be pinned (`agentbus a2a pin URL`), its canonical form (RFC 8785) must
//      hash to the pinned SHA-256, and its signature (A2A 1.0 §8.4) must verify against a pinned
//      key — an unpinned, changed or unverifiable card is refused before any message is sent;
//   4. then the official SDK's client sends the message (no redirects followed) and the answer's
//      text and data parts come back as the `tool.result`, which the verifier scans with the
//      content guards (§12) before the caller sees it.
import { lookup } from 'node:dns/promises';
import { lookup as lookupCb } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { Agent, fetch as undiciFetch } from 'undici';
import { randomUUID } from 'node:crypto';
import { A2A_PROTOCOL_VERSION, Message, SendMessageRequest, taskStateToJSON } from '@a2a-js/sdk';
import type { Part, Task } from '@a2a-js/sdk';
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { A2A_SEND_TOOL, visibleDetail } from '@agentbus/protocol';
import type { A2aPart, A2aPin, ToolResult } from '@agentbus/protocol';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import { checkToolCall, isPublicAddress } from '@agentbus/protocol/tools';
import { AgentCard, CARD_PATH, cardSha256, verifyCard } from './card.js';

export const CARD_FETCH_TIMEOUT_MS = 10_000;
export const MAX_CARD_BYTES = 256 * 1024;

/** A refusal of the gateway's own (not the verifier's): `reason` is a short snake_case word. */
export class OutboundRefusal extends Error {
  constructor(
    readonly reason: string,
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'OutboundRefusal';
  }
}

export interface SendArgs {
  url: string;
  text?: string;
  data?: unknown;
  context_id?: string;
}

/** A card base URL in the form pins are kept: the WHATWG href, ending in `/`. */
export function normalizeBaseUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.endsWith('/')) u.pathname = `${u.pathname}/`;
  u.hash = '';
  u.search = '';
  return u.href;
}

/**
 * The resolver every outbound connection uses: a host name whose addresses are not all public
 * unicast fails at connect time. The check before the call (checkResolved) gives the clear
 * refusal; this one closes the gap between that check and the connection (a name re-pointed in
 * between: DNS rebinding). IP literals never reach it: the URL rule checked them.
 */
export function publicOnlyLookup(
  hostname: string,
  options: LookupOptions,
  cb: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  lookupCb(hostname, { ...options, all: true, verbatim: true }, (err, addrs) => {
    if (err) return cb(err, '');
    const bad = addrs.find((a) => !isPublicAddress(a.address));
    if (bad || addrs.length === 0)
      return cb(Object.assign(new Error(`${hostname} resolves to ${bad?.address ?? 'nothing'}, which is not a public address`), { code: 'EPRIVATE' }), '');
    if (options.all) return cb(null, addrs);
    cb(null, addrs[0]!.address, addrs[0]!.family);
  });
}
const publicOnly = new Agent({ connect: { lookup: publicOnlyLookup } });

/**
 * fetch for every outbound request (cards and calls): never follows a redirect (it could lead
 * anywhere the policy did not check), and connects only to public addresses (publicOnlyLookup).
 * undici's own fetch with a dispatcher whose resolver is ours.
 */
export const noRedirectFetch: typeof fetch = (input, init) =>
  undiciFetch(input as Parameters<typeof undiciFetch>[0], {
    ...(init as Parameters<typeof undiciFetch>[1]),
    redirect: 'error',
    dispatcher: publicOnly,
  }) as unknown as Promise<Response>;

/** Fetch and parse the card at a base URL (no redirects, bounded size and time). */
export async function fetchCard(baseUrl: string, fetchImpl: typeof fetch = noRedirectFetch): Promise<AgentCard> {
  const at = new URL(CARD_PATH, baseUrl);
  let res: Response;
  try {
    res = await fetchImpl(at, { headers: { 'A2A-Version': A2A_PROTOCOL_VERSION }, signal: AbortSignal.timeout(CARD_FETCH_TIMEOUT_MS) });
  } catch (e) {
    throw new OutboundRefusal('card_unreachable', `cannot fetch ${at.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new OutboundRefusal('card_unreachable', `${at.href} answered HTTP ${res.status}`);
  const text = await res.text();
  if (Buffer.byteLength(text) > MAX_CARD_BYTES) throw new OutboundRefusal('card_invalid', `${at.href} is larger than ${MAX_CARD_BYTES} bytes`);
  try {
    return AgentCard.fromJSON(JSON.parse(text));
  } catch {
    throw new OutboundRefusal('card_invalid', `${at.href} is not an Agent Card (JSON)`);
  }
}

/** Every address `host` resolves to must be public unicast (an IP literal was checked by the URL rule). */
async function checkResolved(url: string): Promise<void> {
  const host = new URL(url).hostname;
  if (host.startsWith('[') || /^[0-9.]+$/.test(host)) return;
  let addrs: { address: string }[];
  try {
    addrs = await lookup(host, { all: true, verbatim: true });
  } catch (e) {
    throw new OutboundRefusal('host_unresolved', `${host} does not resolve (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const a of addrs) {
    if (!isPublicAddress(a.address)) throw new OutboundRefusal('private_address', `${host} resolves to ${a.address}, which is not a public address`);
  }
}

/** The caller's tools: policy on these arguments (the verifier's check, again). */
function checkPolicy(caller: CompiledAgent | undefined, gateway: string, args: SendArgs, what: string): void {
  if (!caller) throw new OutboundRefusal('argument_refused', 'the caller has no manifest here');
  const d = checkToolCall(caller.toolPolicy, gateway, A2A_SEND_TOOL, args);
  if (!d.ok) throw new OutboundRefusal(d.code, `${what}: ${d.detail}`);
}

/** A2A parts → the bus's parts (text and data); files and raw bytes are described, not passed. */
export function fromA2aParts(parts: readonly Part[]): A2aPart[] {
  const out: A2aPart[] = [];
  for (const p of parts) {
    const c = p.content;
    if (c?.$case === 'text') out.push({ kind: 'text', text: c.value });
    else if (c?.$case === 'data') out.push({ kind: 'data', data: c.value ?? null });
    else if (c?.$case === 'url') out.push({ kind: 'text', text: `[file: ${c.value}]` });
    else if (c?.$case === 'raw') out.push({ kind: 'text', text: `[${c.value.length} bytes of ${p.mediaType || 'data'} not passed]` });
  }
  return out;
}

/** The bus's parts → A2A parts (JSON form). */
export function toA2aPartsJson(parts: readonly A2aPart[]): Record<string, unknown>[] {
  return parts.map((p) => (p.kind === 'text' ? { text: p.text } : { data: p.data }));
}

function resultOf(parts: A2aPart[], extra: Record<string, unknown>): ToolResult {
  return {
    content: parts.map((p) => ({ type: 'text', text: p.kind === 'text' ? p.text : JSON.stringify(p.data) })),
    structuredContent: { parts, ...extra },
  };
}

/**
 * Send one A2A message as `caller` to the pinned agent at `args.url`; the answer as a tool result.
 * Throws OutboundRefusal for what the gateway refuses (the caller gets an isError result naming it).
 */
export async function sendOutbound(o: {
  gateway: string;
  caller: CompiledAgent | undefined;
  pins: readonly A2aPin[];
  args: SendArgs;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
}): Promise<ToolResult> {
  const { args } = o;
  checkPolicy(o.caller, o.gateway, args, 'args.url');
  let base: string;
  try {
    base = normalizeBaseUrl(args.url);
  } catch {
    throw new OutboundRefusal('argument_refused', 'args.url does not parse');
  }
  const pin = o.pins.find((p) => p.url === base);
  if (!pin) throw new OutboundRefusal('card_not_pinned', `no card is pinned for ${base} (agentbus a2a pin ${base})`);
  await checkResolved(base);
  const fetchImpl = o.fetchImpl ?? noRedirectFetch;
  const card = await fetchCard(base, fetchImpl);
  const sha = cardSha256(card);
  if (sha !== pin.sha256)
    throw new OutboundRefusal(
      'card_changed',
      `the card at ${base} changed since it was pinned (sha256 ${sha.slice(0, 16)}…, pinned ${pin.sha256.slice(0, 16)}…): review it, then agentbus a2a pin ${base}`,
    );
  try {
    await verifyCard(card, pin.keys);
  } catch (e) {
    throw new OutboundRefusal(
      'card_signature_invalid',
      `the card at ${base} has no signature that verifies against its pinned keys (${visibleDetail((e as Error).message).slice(0, 200)})`,
    );
  }
  const iface = card.supportedInterfaces.find((i) => i.protocolBinding === 'JSONRPC');
  if (!iface) throw new OutboundRefusal('card_invalid', `the card at ${base} offers no JSONRPC interface`);
  checkPolicy(o.caller, o.gateway, { ...args, url: iface.url }, `the card's interface URL ${iface.url}`);
  await checkResolved(iface.url);
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, { transports: [new JsonRpcTransportFactory({ fetchImpl })] }),
  );
  const client = await factory.createFromAgentCard({ ...card, supportedInterfaces: [iface] });
  const parts: Record<string, unknown>[] = [];
  if (args.text !== undefined) parts.push({ text: args.text });
  if (args.data !== undefined) parts.push({ data: args.data });
  if (parts.length === 0) throw new OutboundRefusal('argument_refused', 'args: give text or data (or both)');
  const message = Message.fromJSON({ messageId: randomUUID(), role: 'ROLE_USER', parts, ...(args.context_id ? { contextId: args.context_id } : {}) });
  let answer: Message | Task;
  try {
    answer = await client.sendMessage(SendMessageRequest.fromJSON({ message: Message.toJSON(message) }), { signal: AbortSignal.timeout(o.timeoutMs) });
  } catch (e) {
    throw new OutboundRefusal('remote_error', `${base} answered with an error: ${visibleDetail((e as Error).message).slice(0, 500)}`);
  }
  if ('messageId' in answer) return resultOf(fromA2aParts(answer.parts), { kind: 'message', context_id: answer.contextId });
  const task = answer;
  const got: A2aPart[] = [];
  for (const a of task.artifacts ?? []) got.push(...fromA2aParts(a.parts));
  if (task.status?.message) got.push(...fromA2aParts(task.status.message.parts));
  return resultOf(got, { kind: 'task', task_id: task.id, context_id: task.contextId, state: task.status ? taskStateToJSON(task.status.state) : '' });
}
