// `agentbus a2a serve`: the A2A gateway (docs/design.md §17), a service with its own identity.
//
// Inbound. Every bus agent whose manifest has `a2a.expose` gets an Agent Card at
// <base>/agents/<agent>/.well-known/agent-card.json, signed with the gateway's card key, and a
// JSON-RPC endpoint at <base>/agents/<agent>/ (the official SDK's express handler). A client
// authenticates with a bearer token; its SHA-256 in the gateway config names an external
// principal — an agent with a manifest like any other (`a2a.principal.gateway` = this gateway),
// whose credential file the gateway holds. Each A2A message becomes an envelope signed as that
// principal (`a2a.message`, or the skill's own type with one data part as the payload, carrying
// metadata `a2a.gateway` and `a2a.message_id` where the type declares them) and is decided by
// the verifier like any other: recipients, types, rate, size, guards, depth of the principal's
// manifest. The exposed agent's `a2a.reply` is the A2A answer (a Message; for a stream, a Task
// whose artifact is the answer); a refusal is an A2A error whose message is `<reason>: <detail>`
// and whose ErrorInfo metadata carries `reason`, `detail` and `msg_id`. A repeated A2A messageId
// from one principal is refused `replay` (answered once). What the gateway refuses before any
// envelope exists (no or a wrong token, a replay, a body too large, a part it cannot carry) is
// recorded as an `a2a.refusal` it publishes on the topic `a2a.refusals`, signed as itself: the
// verifier audits that like every message, so each refusal has its audit row.
//
// Outbound: outbound.ts.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { isAbsolute, join } from 'node:path';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import { pino } from 'pino';
import { Message, TaskState, Role } from '@a2a-js/sdk';
import type { StreamResponse } from '@a2a-js/sdk';
import { A2AError, ERROR_INFO_TYPE, ExtendedAgentCardNotConfiguredError, TaskNotFoundError, UnsupportedOperationError } from '@a2a-js/sdk/errors';
import type { A2ARequestHandler, ServerCallContext, User } from '@a2a-js/sdk/server';
import { agentCardHandler, jsonRpcHandler } from '@a2a-js/sdk/server/express';
import {
  A2A_GATEWAY_METADATA,
  A2A_MESSAGE_ID_METADATA,
  A2A_MESSAGE_TYPE,
  A2A_REFUSAL_TOPIC,
  A2A_REFUSAL_TYPE,
  A2A_REPLY_TYPE,
  A2A_SEND_TOOL,
  TOOL_RESULT_TYPE,
  parseToolType,
  toolType,
  visibleDetail,
} from '@agentbus/protocol';
import type { A2aPart, A2aRefusal, ToolResult } from '@agentbus/protocol';
import { loadManifestDir, dirSignature, Policy } from '@agentbus/protocol/manifest';
import type { CompiledAgent } from '@agentbus/protocol/manifest';
import {
  connectAgent,
  ContractError,
  ContractRegistry,
  RefusedError,
  RejectedError,
  TimeoutError,
  UndeliveredError,
  TOOL_RESULT_CONTRACT,
  toolCallContract,
  createLogger,
} from '@agentbus/sdk/internal';
import type { AgentClient, InboundMessage, Logger } from '@agentbus/sdk/internal';
import type { A2aGatewayConfig } from './config.js';
import { TokenTable } from './config.js';
import { buildCard, loadCardKey, signCard, JWKS_PATH, CARD_PATH } from './card.js';
import type { AgentCard, CardKey } from './card.js';
import { OutboundRefusal, fromA2aParts, sendOutbound, toA2aPartsJson } from './outbound.js';
import type { SendArgs } from './outbound.js';

export class A2aGatewayError extends Error {
  override name = 'A2aGatewayError';
}

export interface A2aGatewayOptions {
  config: A2aGatewayConfig;
  /** Relative paths of the config (credentials, card key) are relative to this directory. */
  configDir: string;
  manifestsDir: string;
  /** Default home of credential files: <credsDir>/<agent>.creds.json. */
  credsDir: string;
  servers: string | string[];
  /** The bus's contracts (the skill types of exposed agents: their descriptions and payloads). */
  contracts: ContractRegistry;
  connectOptions?: Record<string, unknown>;
  /** Listen on this port instead of the config's (0: any free port). */
  port?: number;
  logger?: Logger;
  /** Outbound fetch (tests); default: fetch that refuses redirects. */
  fetchImpl?: typeof fetch;
}

export interface A2aGatewayStats {
  inbound: number;
  inboundRefused: number;
  outbound: number;
  outboundRefused: number;
}

export interface A2aGateway {
  agent: string;
  /** The base URL the cards name (public_url, or http://host:port). */
  baseUrl: string;
  port: number;
  stats: A2aGatewayStats;
  /** The card an exposed agent's clients fetch (signed). */
  card(agent: string): Promise<AgentCard | undefined>;
  stop(): Promise<void>;
}

/** The refusal an A2A client receives: message `<reason>: <detail>`, ErrorInfo metadata { reason, detail, msg_id, decided_by }. */
export class BusRefusalError extends A2AError {
  override readonly reason: string;
  constructor(reason: string, detail: string, o: { msgId?: string; decidedBy: 'verifier' | 'gateway' | 'recipient' }) {
    super({
      message: `${reason}: ${detail}`,
      metadata: { reason, detail, decided_by: o.decidedBy, ...(o.msgId ? { msg_id: o.msgId } : {}) },
    });
    this.reason = reason.toUpperCase();
    this.name = 'BusRefusalError';
  }
}

class PrincipalUser implements User {
  constructor(readonly principal: string) {}
  get isAuthenticated(): boolean {
    return true;
  }
  get userName(): string {
    return this.principal;
  }
}

const MESSAGE_ID_RE = /^[\x21-\x7e]{1,256}$/;
/** The gateway's own refusal records per second (below the default manifest rate of 50/s). */
export const REFUSAL_RECORDS_PER_S = 20;
const resolvePath = (dir: string, p: string) => (isAbsolute(p) ? p : join(dir, p));
/** A metadata value: visible, within the 1 KiB a metadata value may have. */
const mdValue = (s: string) => {
  const v = visibleDetail(s);
  return Buffer.byteLength(v) <= 1000 ? v : `${v.slice(0, 900)}…`;
};

/** Start the gateway: connect its identity and its principals, serve the cards and endpoints. */
export async function startA2aGateway(o: A2aGatewayOptions): Promise<A2aGateway> {
  const cfg = o.config;
  const log = o.logger ?? createLogger({ name: 'a2a', level: process.env.AGENTBUS_LOG_LEVEL ?? 'info', destination: pino.destination({ fd: 2, sync: false }) });
  const gw = cfg.agent;
  // manifests: reloaded when the directory changes; a bad edit keeps the last good ones
  let policySig = '';
  let policy: Policy | undefined;
  let policyVersion = 0;
  const currentPolicy = (): Policy => {
    const sig = dirSignature(o.manifestsDir);
    if (sig !== policySig || !policy) {
      try {
        policy = new Policy(loadManifestDir(o.manifestsDir));
        policyVersion++;
      } catch (e) {
        if (!policy) throw e;
        log.warn({ err: (e as Error).message }, 'manifests do not load; keeping the last good ones');
      }
      policySig = sig;
    }
    return policy;
  };
  const self = currentPolicy().agents.get(gw);
  if (!self?.manifest.a2a?.gateway)
    throw new A2aGatewayError(`${gw} has no manifest with an a2a.gateway section in ${o.manifestsDir} (agentbus a2a init makes it)`);
  const cardKey: CardKey = loadCardKey(resolvePath(o.configDir, cfg.card_key));
  if (!self.manifest.a2a.gateway.card_keys.some((k) => k.kid === cardKey.kid && k.jwk.x === cardKey.publicJwk.x))
    throw new A2aGatewayError(`the card key ${cardKey.kid} is not listed in ${gw}'s manifest (a2a.gateway.card_keys): clients could not check the cards`);
  const tokens = new TokenTable(cfg.principals);

  // the gateway's own identity: the send_message tool host and the refusal records
  const credsOf = (agent: string, given?: string) => (given ? resolvePath(o.configDir, given) : join(o.credsDir, `${agent}.creds.json`));
  const gwCreds = credsOf(gw, cfg.credentials);
  if (!existsSync(gwCreds)) throw new A2aGatewayError(`no credential file ${gwCreds} for the gateway ${gw}`);
  const sendType = toolType(gw, A2A_SEND_TOOL);
  const connect = (credentials: string, contracts: ContractRegistry) =>
    connectAgent({
      servers: o.servers,
      credentials,
      contracts,
      manifestsDir: o.manifestsDir,
      ...(o.connectOptions ? { connectOptions: o.connectOptions } : {}),
    });
  const client = await connect(gwCreds, new ContractRegistry([toolCallContract(sendType), TOOL_RESULT_CONTRACT]));
  if (client.agentId !== gw) {
    await client.close();
    throw new A2aGatewayError(`${gwCreds} is ${client.agentId}'s credential file, not ${gw}'s`);
  }
  const principals = new Map<string, AgentClient>();
  const closeAll = async () => {
    for (const c of principals.values()) await c.close().catch(() => undefined);
    await client.close().catch(() => undefined);
  };
  try {
    for (const p of cfg.principals) {
      const file = credsOf(p.agent, p.credentials);
      if (!existsSync(file)) throw new A2aGatewayError(`no credential file ${file} for the principal ${p.agent}`);
      const m = currentPolicy().agents.get(p.agent);
      if (m?.manifest.a2a?.principal?.gateway !== gw)
        throw new A2aGatewayError(`${p.agent} is not a principal of ${gw}: its manifest needs a2a: { principal: { gateway: ${gw} } }`);
      const c = await connect(file, o.contracts);
      if (c.agentId !== p.agent) {
        await c.close();
        throw new A2aGatewayError(`${file} is ${c.agentId}'s credential file, not ${p.agent}'s`);
      }
      principals.set(p.agent, c);
    }
  } catch (e) {
    await closeAll();
    throw e;
  }

  const stats: A2aGatewayStats = { inbound: 0, inboundRefused: 0, outbound: 0, outboundRefused: 0 };

  // Refusal records are bounded (REFUSAL_RECORDS_PER_S, a burst of as many): a flood of
  // unauthenticated requests must not spend the gateway's own rate on the bus (and get it
  // quarantined); past the bound refusals are counted, and the next record says how many.
  let recordTokens = REFUSAL_RECORDS_PER_S;
  let recordRefill = Date.now();
  let unrecorded = 0;
  /** Record a refusal of the gateway's own: an a2a.refusal on a2a.refusals, audited by the verifier. */
  const record = async (r: A2aRefusal): Promise<void> => {
    const now = Date.now();
    recordTokens = Math.min(REFUSAL_RECORDS_PER_S, recordTokens + ((now - recordRefill) / 1000) * REFUSAL_RECORDS_PER_S);
    recordRefill = now;
    if (r.direction === 'inbound') stats.inboundRefused++;
    else stats.outboundRefused++;
    if (recordTokens < 1) {
      unrecorded++;
      return;
    }
    recordTokens--;
    const more = unrecorded ? ` (and ${unrecorded} earlier refusal(s) over ${REFUSAL_RECORDS_PER_S}/s, counted, not recorded one by one)` : '';
    unrecorded = 0;
    const payload: A2aRefusal = { ...r, detail: mdValue(r.detail + more) };
    const md: Record<string, string> = { 'a2a.reason': r.reason, 'a2a.direction': r.direction };
    if (r.principal) md['a2a.principal'] = r.principal;
    if (r.agent) md['a2a.agent'] = r.agent;
    if (r.url) md['a2a.url'] = mdValue(r.url);
    if (r.message_id) md['a2a.message_id'] = mdValue(r.message_id);
    try {
      await client.publish(A2A_REFUSAL_TOPIC, A2A_REFUSAL_TYPE, payload, { metadata: md });
    } catch (e) {
      log.warn({ err: (e as Error).message, reason: r.reason }, 'the refusal record was not accepted');
    }
  };

  // ---- inbound

  const exposed = (agent: string): CompiledAgent | undefined => {
    const a = currentPolicy().agents.get(agent);
    const e = a?.manifest.a2a?.expose;
    return e && (e.gateway === undefined || e.gateway === gw) ? a : undefined;
  };
  const baseUrl = (cfg.public_url ?? `http://${cfg.listen.host}:${o.port ?? cfg.listen.port}`).replace(/\/+$/, '');
  let actualBase = baseUrl;
  const cards = new Map<string, { version: number; card: Promise<AgentCard> }>();
  const cardOf = (agent: string): Promise<AgentCard> | undefined => {
    const a = exposed(agent);
    if (!a) return undefined;
    const hit = cards.get(agent);
    if (hit && hit.version === policyVersion) return hit.card;
    const card = signCard(buildCard(a, o.contracts, actualBase, { mtls: !!cfg.tls }), cardKey, actualBase);
    cards.set(agent, { version: policyVersion, card });
    return card;
  };

  const seen = new Map<string, number>();
  const remember = (key: string): boolean => {
    const now = Date.now();
    if (seen.size > 100_000) for (const [k, t] of seen) if (now - t > cfg.replay_window_ms) seen.delete(k);
    const t = seen.get(key);
    if (t !== undefined && now - t <= cfg.replay_window_ms) return false;
    seen.set(key, now);
    return true;
  };

  const refuseInbound = async (r: Omit<A2aRefusal, 'direction'>): Promise<never> => {
    await record({ ...r, direction: 'inbound' });
    throw new BusRefusalError(r.reason, visibleDetail(r.detail), { decidedBy: 'gateway' });
  };

  /** One A2A message to `agent` as `principal`: the answer's parts, or a thrown refusal. */
  const deliver = async (
    agent: string,
    req: Parameters<A2ARequestHandler['sendMessage']>[0],
    ctx: ServerCallContext,
  ): Promise<{ parts: A2aPart[]; msgId: string; contextId: string }> => {
    stats.inbound++;
    const principal = ctx.user?.isAuthenticated ? ctx.user.userName : '';
    const msg = req.message;
    const base = { principal, agent };
    if (!principal) return refuseInbound({ ...base, reason: 'unauthenticated', detail: 'no principal' });
    if (!msg) return refuseInbound({ ...base, reason: 'malformed', detail: 'the request has no message' });
    const messageId = msg.messageId;
    if (!MESSAGE_ID_RE.test(messageId))
      return refuseInbound({ ...base, reason: 'malformed', detail: 'messageId must be 1 to 256 visible ASCII characters', message_id: messageId.slice(0, 64) });
    const at = { ...base, message_id: messageId };
    if (!remember(`${principal}\u0000${messageId}`))
      return refuseInbound({ ...at, reason: 'replay', detail: `messageId ${messageId} was already received from ${principal}: a message is answered once` });
    const target = exposed(agent);
    if (!target) return refuseInbound({ ...at, reason: 'unknown_agent', detail: `${agent} is not exposed through ${gw}` });
    const p = currentPolicy().agents.get(principal);
    if (p?.manifest.a2a?.principal?.gateway !== gw)
      return refuseInbound({ ...at, reason: 'principal_not_served', detail: `${principal} is not a principal of ${gw}` });
    const bus = principals.get(principal);
    if (!bus) return refuseInbound({ ...at, reason: 'principal_not_served', detail: `${gw} holds no credentials for ${principal}` });
    const skills = target.manifest.a2a!.expose!.skills;
    const asked = msg.metadata?.skill ?? req.metadata?.skill;
    if (asked !== undefined && typeof asked !== 'string') return refuseInbound({ ...at, reason: 'malformed', detail: 'metadata.skill must be a string' });
    const type = asked ?? skills[0]!;
    if (!skills.includes(type)) return refuseInbound({ ...at, reason: 'skill_not_exposed', detail: `${agent} exposes ${skills.join(', ')}, not ${type}` });
    const parts: A2aPart[] = [];
    for (const part of msg.parts) {
      const c = part.content;
      if (c?.$case === 'text') parts.push({ kind: 'text', text: c.value });
      else if (c?.$case === 'data') parts.push({ kind: 'data', data: c.value ?? null });
      else
        return refuseInbound({ ...at, reason: 'unsupported_part', detail: `only text and data parts cross the gateway (got ${c?.$case ?? 'an empty part'})` });
    }
    let payload: unknown;
    let metadata: Record<string, string> = {};
    if (type === A2A_MESSAGE_TYPE) {
      payload = { parts, ...(msg.contextId ? { context_id: msg.contextId } : {}) };
      metadata = { [A2A_GATEWAY_METADATA]: gw, [A2A_MESSAGE_ID_METADATA]: messageId };
    } else {
      const only = parts.length === 1 ? parts[0] : undefined;
      if (only?.kind !== 'data') return refuseInbound({ ...at, reason: 'malformed', detail: `the skill ${type} takes exactly one data part (its payload)` });
      payload = only.data;
    }
    let answer: InboundMessage;
    try {
      answer = (await bus.request(agent, type as never, payload as never, { metadata, timeoutMs: cfg.request_timeout_ms, retries: 1 })) as InboundMessage;
    } catch (e) {
      if (e instanceof RejectedError) throw new BusRefusalError(e.reasonName, visibleDetail(e.detail), { msgId: e.msgId, decidedBy: 'verifier' });
      if (e instanceof RefusedError) throw new BusRefusalError(e.reasonName, visibleDetail(e.detail), { msgId: e.msgId, decidedBy: 'recipient' });
      // the SDK refused to sign it (a payload its contract refuses): recorded by the gateway
      if (e instanceof ContractError) return refuseInbound({ ...at, reason: e.reasonName, detail: e.detail });
      if (e instanceof UndeliveredError)
        throw new A2AError({ message: `${agent} is not connected to the bus: not delivered`, metadata: { reason: 'undelivered', msg_id: e.msgId } });
      if (e instanceof TimeoutError)
        throw new A2AError({ message: `no answer from ${agent} within ${cfg.request_timeout_ms} ms`, metadata: { reason: 'timeout' } });
      throw e;
    }
    const reply =
      answer.type === A2A_REPLY_TYPE
        ? (answer.payload as { parts: A2aPart[] }).parts
        : [{ kind: 'data' as const, data: { type: answer.type, payload: answer.payload } as never }];
    return { parts: reply, msgId: answer.msgId, contextId: msg.contextId || randomUUID() };
  };

  const agentMessage = (r: { parts: A2aPart[]; msgId: string; contextId: string }, taskId = ''): Message =>
    Message.fromJSON({
      messageId: randomUUID(),
      contextId: r.contextId,
      ...(taskId ? { taskId } : {}),
      role: 'ROLE_AGENT',
      parts: toA2aPartsJson(r.parts),
      metadata: { agentbus_msg_id: r.msgId },
    });

  class ExposedAgent implements A2ARequestHandler {
    constructor(readonly agent: string) {}
    async getAgentCard(): Promise<AgentCard> {
      const c = cardOf(this.agent);
      if (!c) throw new TaskNotFoundError({ message: `${this.agent} is not exposed` });
      return c;
    }
    async getAuthenticatedExtendedAgentCard(): Promise<AgentCard> {
      throw new ExtendedAgentCardNotConfiguredError();
    }
    async sendMessage(params: Parameters<A2ARequestHandler['sendMessage']>[0], ctx: ServerCallContext): Promise<Message> {
      return agentMessage(await deliver(this.agent, params, ctx));
    }
    async *sendMessageStream(params: Parameters<A2ARequestHandler['sendMessage']>[0], ctx: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
      // decided (and answered) before the first event: a refusal is the stream's JSON-RPC error
      const r = await deliver(this.agent, params, ctx);
      const taskId = randomUUID();
      const history = params.message ? [params.message] : [];
      const status = (state: TaskState, message?: Message) => ({ state, message, timestamp: new Date().toISOString() });
      yield {
        payload: {
          $case: 'task',
          value: { id: taskId, contextId: r.contextId, status: status(TaskState.TASK_STATE_SUBMITTED), history, artifacts: [], metadata: undefined },
        },
      };
      yield {
        payload: { $case: 'statusUpdate', value: { taskId, contextId: r.contextId, status: status(TaskState.TASK_STATE_WORKING), metadata: undefined } },
      };
      const answer = agentMessage(r, taskId);
      yield {
        payload: {
          $case: 'artifactUpdate',
          value: {
            taskId,
            contextId: r.contextId,
            artifact: {
              artifactId: randomUUID(),
              name: 'answer',
              description: '',
              parts: answer.parts,
              metadata: { agentbus_msg_id: r.msgId },
              extensions: [],
            },
            append: false,
            lastChunk: true,
            metadata: undefined,
          },
        },
      };
      yield {
        payload: {
          $case: 'statusUpdate',
          value: { taskId, contextId: r.contextId, status: status(TaskState.TASK_STATE_COMPLETED, answer), metadata: undefined },
        },
      };
    }
    async getTask(): Promise<never> {
      throw new TaskNotFoundError({ message: 'the gateway keeps no tasks: every answer is returned with its request' });
    }
    async cancelTask(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'the gateway keeps no tasks' });
    }
    async listTasks(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'the gateway keeps no tasks' });
    }
    async createTaskPushNotificationConfig(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'no push notifications' });
    }
    async getTaskPushNotificationConfig(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'no push notifications' });
    }
    async listTaskPushNotificationConfigs(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'no push notifications' });
    }
    async deleteTaskPushNotificationConfig(): Promise<never> {
      throw new UnsupportedOperationError({ message: 'no push notifications' });
    }
    // biome-ignore lint/correctness/useYield: nothing to resubscribe to
    async *resubscribe(): AsyncGenerator<StreamResponse, void, undefined> {
      throw new TaskNotFoundError({ message: 'the gateway keeps no tasks' });
    }
  }

  const principalOf = new WeakMap<Request, string>();
  const routes = new Map<string, { rpc: express.RequestHandler; card: express.RequestHandler }>();
  const routesOf = (agent: string) => {
    let r = routes.get(agent);
    if (!r) {
      const handler = new ExposedAgent(agent);
      r = {
        rpc: jsonRpcHandler({ requestHandler: handler, userBuilder: async (req) => new PrincipalUser(principalOf.get(req) ?? '') }),
        card: agentCardHandler({ agentCardProvider: handler, cache: { maxAge: 60 } }),
      };
      routes.set(agent, r);
    }
    return r;
  };
  const jsonRpcError = (res: Response, status: number, reason: string, detail: string) =>
    res.status(status).json({
      jsonrpc: '2.0',
      id: null,
      error: {
        code: -32600,
        message: `${reason}: ${detail}`,
        data: [{ '@type': ERROR_INFO_TYPE, reason: reason.toUpperCase(), domain: 'a2a-protocol.org', metadata: { reason, detail, decided_by: 'gateway' } }],
      },
    });

  const app = express();
  app.disable('x-powered-by');
  app.get(`/${JWKS_PATH}`, (_req, res) => {
    const keys = (currentPolicy().agents.get(gw)?.manifest.a2a?.gateway?.card_keys ?? []).map((k) => ({ ...k.jwk, kid: k.kid }));
    res.json({ keys });
  });
  const parseBody = express.json({ limit: cfg.max_body_bytes, type: () => true });
  app.use('/agents/:agent', (req: Request, res: Response, next: NextFunction) => {
    const agent = String(req.params.agent ?? '');
    const remote = req.socket.remoteAddress ?? '';
    if (!exposed(agent)) {
      res.status(404).json({ error: `no agent ${agent.slice(0, 64)} is exposed here` });
      return;
    }
    const r = routesOf(agent);
    if (req.method === 'GET' && req.path === `/${CARD_PATH}`) {
      req.url = '/';
      r.card(req, res, next);
      return;
    }
    if (req.method !== 'POST' || req.path !== '/') {
      res.status(404).json({ error: 'not found' });
      return;
    }
    // a client certificate listed for a principal (mTLS), else the bearer token
    const der = (req.socket as TLSSocket).encrypted ? (req.socket as TLSSocket).getPeerCertificate()?.raw : undefined;
    const byCert = tokens.certificate(der);
    const byToken = req.headers.authorization || !byCert ? tokens.authenticate(req.headers.authorization) : undefined;
    const auth: { ok: true; principal: string } | { ok: false; detail: string } =
      byCert && byToken?.ok && byToken.principal !== byCert
        ? { ok: false, detail: 'the client certificate and the bearer token name different principals' }
        : byCert
          ? { ok: true, principal: byCert }
          : (byToken ?? { ok: false, detail: 'no credentials' });
    if (!auth.ok && der?.length && !byCert && !req.headers.authorization) auth.detail = "unknown client certificate (not in any principal's certs_sha256)";
    if (!auth.ok) {
      void record({ direction: 'inbound', reason: 'unauthenticated', detail: auth.detail, agent, remote }).then(() => {
        res.setHeader('WWW-Authenticate', 'Bearer');
        jsonRpcError(res, 401, 'unauthenticated', auth.detail);
      });
      return;
    }
    principalOf.set(req, auth.principal);
    parseBody(req, res, (err?: unknown) => {
      if (err) {
        const e = err as { type?: string; message?: string; length?: number; limit?: number };
        const tooLarge = e.type === 'entity.too.large';
        const reason = tooLarge ? 'payload_too_large' : 'malformed';
        const detail = tooLarge ? `the request body is larger than ${cfg.max_body_bytes} bytes` : 'the request body is not JSON';
        void record({ direction: 'inbound', reason, detail, agent, principal: auth.principal, remote }).then(() =>
          jsonRpcError(res, tooLarge ? 413 : 400, reason, detail),
        );
        return;
      }
      r.rpc(req, res, next);
    });
  });

  // ---- outbound: the send_message tool

  const outbound = async (msg: InboundMessage): Promise<ToolResult> => {
    stats.outbound++;
    const args = msg.payload as SendArgs;
    const url = typeof args?.url === 'string' ? args.url : '';
    const pol = currentPolicy();
    try {
      return await sendOutbound({
        gateway: gw,
        caller: pol.agents.get(msg.sender),
        pins: pol.agents.get(gw)?.manifest.a2a?.gateway?.pins ?? [],
        args,
        timeoutMs: cfg.request_timeout_ms,
        ...(o.fetchImpl ? { fetchImpl: o.fetchImpl } : {}),
      });
    } catch (e) {
      const r = e instanceof OutboundRefusal ? e : new OutboundRefusal('gateway_error', (e as Error).message);
      await record({ direction: 'outbound', reason: r.reason, detail: r.detail, caller: msg.sender, url });
      log.warn({ caller: msg.sender, url, reason: r.reason, detail: r.detail }, 'outbound A2A call refused');
      return { isError: true, content: [{ type: 'text', text: `refused by the A2A gateway: ${r.reason}: ${visibleDetail(r.detail)}` }] };
    }
  };
  const inflight = new Set<Promise<void>>();
  const handleTool = async (msg: InboundMessage): Promise<void> => {
    if (msg.type === TOOL_RESULT_TYPE) return;
    const t = parseToolType(msg.type);
    const result: ToolResult =
      t?.server === gw && t.tool === A2A_SEND_TOOL
        ? await outbound(msg)
        : { isError: true, content: [{ type: 'text', text: `${gw} serves ${A2A_SEND_TOOL} only` }] };
    try {
      await client.reply(msg, TOOL_RESULT_TYPE, result);
    } catch (e) {
      // the verifier refused the answer (a content guard on what the remote agent said): say so, without the text
      if (e instanceof RejectedError && !result.isError) {
        stats.outboundRefused++;
        await client
          .reply(msg, TOOL_RESULT_TYPE, {
            isError: true,
            content: [{ type: 'text', text: `the remote agent's answer was refused by the verifier: ${e.reasonName}: ${visibleDetail(e.detail)}` }],
          })
          .catch((e2: Error) => log.warn({ err: e2.message }, 'tool result not delivered'));
        return;
      }
      log.warn({ sender: msg.sender, err: (e as Error).message }, 'tool result not delivered');
    }
  };
  const loop = (async () => {
    for await (const msg of client.inbox()) {
      const p = handleTool(msg).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  })();
  loop.catch((e: Error) => log.error({ err: e.message }, 'the gateway inbox ended'));

  // ---- listen
  const tlsFiles = cfg.tls
    ? { cert: readFileSync(resolvePath(o.configDir, cfg.tls.cert)), key: readFileSync(resolvePath(o.configDir, cfg.tls.key)) }
    : undefined;
  const server: Server = await new Promise<Server>((resolve, reject) => {
    // with TLS a client certificate is asked for, never required: it is one way to authenticate (checked above by fingerprint)
    const s: Server = tlsFiles ? createHttpsServer({ ...tlsFiles, requestCert: true, rejectUnauthorized: false }, app) : createHttpServer(app);
    s.once('error', reject);
    s.listen(o.port ?? cfg.listen.port, cfg.listen.host, () => resolve(s));
  }).catch(async (e: Error) => {
    await closeAll();
    throw new A2aGatewayError(`cannot listen on ${cfg.listen.host}:${o.port ?? cfg.listen.port}: ${e.message}`);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? cfg.listen.port);
  if (!cfg.public_url) actualBase = `${tlsFiles ? 'https' : 'http'}://${cfg.listen.host.includes(':') ? `[${cfg.listen.host}]` : cfg.listen.host}:${port}`;
  log.info({ url: actualBase, principals: [...principals.keys()] }, 'A2A gateway listening');

  let stopped = false;
  return {
    agent: gw,
    get baseUrl() {
      return actualBase;
    },
    port,
    stats,
    card: (agent) => cardOf(agent) ?? Promise.resolve(undefined),
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 2000).unref())]);
      await closeAll();
    },
  };
}

export { fromA2aParts, Role };
