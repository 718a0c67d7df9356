// Memory on the bus (docs/design.md §13): `agent.memory(ns)` reads and writes a namespace of the memory
// service (the `memory` agent) with signed request messages; nothing touches JetStream KV
// directly (agents have no NATS permission on KV subjects). A refused operation is a
// MemoryError with the service's code; a request outside the agent's memory grants, which the
// verifier refuses before it reaches the service (memory_not_allowed), is the same
// MemoryError 'not_allowed' as the service's own refusal, the verifier's RejectedError kept as
// `rejected`. Any other refusal of the verifier (a guard, the rate) stays a RejectedError.
//
// The memory types are not in an agent's registry: the client falls back to MEMORY_CONTRACTS
// (builtinMemoryContract), as it does for tool types.
import {
  MEMORY_PAYLOAD_SCHEMAS,
  MEMORY_SERVICE,
  MEMORY_GET_TYPE,
  MEMORY_PUT_TYPE,
  MEMORY_DELETE_TYPE,
  MEMORY_LIST_TYPE,
  MEMORY_WATCH_TYPE,
  MEMORY_UNWATCH_TYPE,
  MEMORY_RESULT_TYPE,
  MEMORY_EVENT_TYPE,
} from '@agentbus/protocol';
import { Reason } from '@agentbus/protocol';
import type { MemoryErrorCode, MemoryEventPayload, MemoryResultPayload } from '@agentbus/protocol';
import type { z } from 'zod';
import { createRegistry, defineMessage } from './contracts.js';
import type { AnyContract } from './contracts.js';
import { MessageQueue } from './queue.js';
import { RejectedError } from './errors.js';
import type { AgentClient, InboundMessage } from './client.js';

export { MEMORY_SERVICE };
export type { MemoryErrorCode, MemoryEventPayload, MemoryResultPayload };

/** The memory.* message types (requests, results, events): built in, every agent knows them. */
export const MEMORY_CONTRACTS = createRegistry(
  defineMessage(MEMORY_GET_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_GET_TYPE], { description: 'read a key of a memory namespace' }),
  defineMessage(MEMORY_PUT_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_PUT_TYPE], { description: 'write a key (if_revision: compare-and-set; 0 = must not exist)' }),
  defineMessage(MEMORY_DELETE_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_DELETE_TYPE], { description: 'delete a key' }),
  defineMessage(MEMORY_LIST_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_LIST_TYPE], { description: 'list keys by prefix, paged' }),
  defineMessage(MEMORY_WATCH_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_WATCH_TYPE], { description: 'watch a namespace for changes (memory.event replies)' }),
  defineMessage(MEMORY_UNWATCH_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_UNWATCH_TYPE], { description: 'end a watch' }),
  defineMessage(MEMORY_RESULT_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_RESULT_TYPE], { description: "the memory service's answer" }),
  defineMessage(MEMORY_EVENT_TYPE, MEMORY_PAYLOAD_SCHEMAS[MEMORY_EVENT_TYPE], { description: 'a change in a watched namespace' }),
);

/** The built-in contract of a memory type (a registry need not list them); undefined otherwise. */
export function builtinMemoryContract(type: string): AnyContract | undefined {
  return type.startsWith('memory.') ? MEMORY_CONTRACTS.get(type) : undefined;
}

/**
 * An operation the memory service refused or could not do: `code` says which. `not_allowed` is
 * also the verifier's refusal of a request outside the agent's grants (memory_not_allowed):
 * then `rejected` is the verifier's RejectedError (its reason, detail and msg_id).
 */
export class MemoryError extends Error {
  readonly code: MemoryErrorCode;
  readonly op: string;
  readonly ns: string;
  readonly key: string | undefined;
  /** The verifier's rejection, when the verifier (not the memory service) refused the request. */
  readonly rejected: RejectedError | undefined;
  constructor(code: MemoryErrorCode, op: string, ns: string, key: string | undefined, detail: string, rejected?: RejectedError) {
    super(`memory ${op} ${ns}${key ? `/${key}` : ''}: ${code}: ${detail}`, rejected ? { cause: rejected } : undefined);
    this.name = 'MemoryError';
    this.code = code;
    this.op = op;
    this.ns = ns;
    this.key = key;
    this.rejected = rejected;
  }
}

/** The verifier's memory_not_allowed as the MemoryError 'not_allowed' it means; anything else as it is. */
function asMemoryError(e: unknown, op: string, ns: string, key: string | undefined): unknown {
  if (e instanceof RejectedError && e.reason === Reason.REASON_MEMORY_NOT_ALLOWED)
    return new MemoryError('not_allowed', op, ns, key, `refused by the verifier: ${e.detail || e.reasonName}`, e);
  return e;
}

/** A key's value and revision, as get() returns it. */
export interface MemoryEntry<T = unknown> {
  key: string;
  value: T;
  /** Grows with each write; pass it as `ifRevision` to write only if nobody wrote since. */
  revision: number;
}
/** One page of list(). */
export interface MemoryPage {
  keys: string[];
  /** Pass to list() for the next page; undefined on the last page. */
  cursor: string | undefined;
}
/** A change in a watched namespace; `value` is typed (and checked) when the namespace has a schema. */
export type MemoryEvent<T = unknown> = Omit<MemoryEventPayload, 'value'> & { value?: T };
/** The changes of a namespace, as watch() returns them: iterate with `for await`. */
export interface MemoryWatch<T = unknown> extends AsyncIterable<MemoryEvent<T>> {
  /** Ends the watch (tells the service; later events are dropped). */
  close(): Promise<void>;
}
/** Options of client.memory(ns). */
export interface MemoryOptions<T = unknown> {
  /** How long each request waits for the memory service (ms). */
  timeoutMs?: number;
  /**
   * The namespace's value schema (zod). put() checks a value before it is signed (MemoryError
   * 'invalid', the field named, nothing sent); get() and watch() check what they read, so a value
   * another writer left in a shape this agent does not expect is an error, not data.
   */
  schema?: z.ZodType<T>;
}

/** One memory namespace, as client.memory(ns) returns it: get, put, delete, list, watch — each a signed request the verifier checks against the agent's memory grants. */
export interface Memory<T = unknown> {
  /** The namespace (e.g. `notes`, `agent/planner`). */
  readonly ns: string;
  /** The value and its revision; null when the key does not exist. */
  get<U extends T = T>(key: string): Promise<MemoryEntry<U> | null>;
  /** Write; resolves with the new revision. `ifRevision`: compare-and-set (0 = must not exist), MemoryError 'conflict' otherwise. */
  put(key: string, value: T, o?: { ifRevision?: number }): Promise<number>;
  /** Delete a key. `ifRevision`: only if nobody wrote since (MemoryError 'conflict' otherwise). */
  delete(key: string, o?: { ifRevision?: number }): Promise<void>;
  /** A page of keys (by `prefix`, at most `limit`), then the next from `cursor`. */
  list(o?: { prefix?: string; cursor?: string; limit?: number }): Promise<MemoryPage>;
  /** Changes (put, delete) from now on, until close() or a `break`. */
  watch(o?: { prefix?: string }): Promise<MemoryWatch<T>>;
}

/** The first issue of a failed schema check, one line: `$.a.b: expected string, received number`. */
function issueLine(e: z.ZodError): string {
  const i = e.issues[0];
  if (!i) return 'does not match the namespace schema';
  const path = i.path.length ? `$.${i.path.map(String).join('.')}` : '$';
  return `${path}: ${i.message}`;
}

/** Hooks the memory client needs from AgentClient (see client.ts). */
export interface MemoryHost {
  readonly agentId: string;
  request(to: string, type: string, payload: unknown, o?: { timeoutMs?: number }): Promise<InboundMessage>;
  send(to: string, type: string, payload: unknown, o?: { timeoutMs?: number }): Promise<unknown>;
  /** Deliver every later message whose causation is `msgId` to `fn` (not the inbox), until the returned function is called. */
  onReplies(msgId: string, fn: (m: InboundMessage) => void): () => void;
}

/** The memory of namespace `ns` (default: the agent's own, `agent/<self>`), through `client`. */
export function memoryClient<T = unknown>(client: AgentClient<any>, ns?: string, mo: MemoryOptions<T> = {}): Memory<T> {
  const host = client as unknown as MemoryHost;
  const space = ns ?? `agent/${host.agentId}`;
  const timeoutMs = mo.timeoutMs ?? 10_000;
  const schema = mo.schema;
  /** A value checked against the namespace schema (when there is one), else MemoryError 'invalid'. */
  const checked = (op: string, key: string | undefined, v: unknown, what: string): T => {
    if (!schema) return v as T;
    const r = schema.safeParse(v);
    if (!r.success) throw new MemoryError('invalid', op, space, key, `${what} ${issueLine(r.error)}`);
    return r.data;
  };
  const call = async (type: string, payload: Record<string, unknown>): Promise<MemoryResultPayload> => {
    const answer = await host.request(MEMORY_SERVICE, type, { ns: space, ...payload }, { timeoutMs }).catch((e: unknown) => {
      throw asMemoryError(e, type.slice(7), space, payload.key as string | undefined);
    });
    if (answer.type !== MEMORY_RESULT_TYPE)
      throw new MemoryError('invalid', type.slice(7), space, payload.key as string | undefined, `the memory service answered with ${answer.type}`);
    return answer.payload as MemoryResultPayload;
  };
  const fail = (r: MemoryResultPayload, key?: string): never => {
    throw new MemoryError(r.error?.code ?? 'invalid', r.op, space, key, r.error?.detail ?? 'refused');
  };
  return {
    ns: space,
    async get<U extends T = T>(key: string) {
      const r = await call(MEMORY_GET_TYPE, { key });
      if (!r.ok) {
        if (r.error?.code === 'not_found') return null;
        return fail(r, key);
      }
      return { key, value: checked('get', key, r.value, 'the stored value does not match the namespace schema:') as U, revision: r.revision ?? 0 };
    },
    async put(key, value, o = {}) {
      value = checked('put', key, value, 'the value does not match the namespace schema:');
      const r = await call(MEMORY_PUT_TYPE, { key, value, ...(o.ifRevision !== undefined ? { if_revision: o.ifRevision } : {}) });
      if (!r.ok) return fail(r, key);
      return r.revision ?? 0;
    },
    async delete(key, o = {}) {
      const r = await call(MEMORY_DELETE_TYPE, { key, ...(o.ifRevision !== undefined ? { if_revision: o.ifRevision } : {}) });
      if (!r.ok) fail(r, key);
    },
    async list(o = {}) {
      const r = await call(MEMORY_LIST_TYPE, {
        ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
        ...(o.cursor !== undefined ? { cursor: o.cursor } : {}),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
      });
      if (!r.ok) return fail(r);
      return { keys: r.keys ?? [], cursor: r.cursor };
    },
    async watch(o = {}) {
      let off: (() => void) | undefined;
      let watchId = '';
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        q.stop();
        // keep dropping stray events until the service confirmed the end of the watch
        try {
          if (watchId) await host.request(MEMORY_SERVICE, MEMORY_UNWATCH_TYPE, { watch: watchId }, { timeoutMs });
        } catch {
          /* the service ends it anyway once a delivery fails */
        } finally {
          off?.();
        }
      };
      const q = new MessageQueue<MemoryEvent<T>>(() => void close());
      const answer = await host
        .request(MEMORY_SERVICE, MEMORY_WATCH_TYPE, { ns: space, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) }, { timeoutMs })
        .catch((e: unknown) => {
          throw asMemoryError(e, 'watch', space, undefined);
        });
      const r = answer.payload as MemoryResultPayload;
      if (answer.type !== MEMORY_RESULT_TYPE || !r.ok) return fail(r);
      watchId = answer.causationId;
      // events are replies to the watch request: they arrive after its result (the service sends them later)
      off = host.onReplies(watchId, (m) => {
        if (m.type !== MEMORY_EVENT_TYPE || q.done) return;
        const ev = m.payload as MemoryEventPayload;
        if (ev.op === 'put' && schema) {
          const r = schema.safeParse(ev.value);
          // a value this agent cannot read as its schema says is not handed over as data
          if (!r.success) {
            q.stop(new MemoryError('invalid', 'watch', space, ev.key, `the stored value does not match the namespace schema: ${issueLine(r.error)}`));
            return;
          }
          q.push({ ...ev, value: r.data });
          return;
        }
        q.push(ev as MemoryEvent<T>);
      });
      return {
        close,
        [Symbol.asyncIterator]: () => q[Symbol.asyncIterator](),
      };
    },
  };
}
