// Message types are contracts: a type name maps to a zod schema (JSON payloads) or a protobuf
// message (binary payloads). The SDK validates before signing; the verifier loads the same
// module and validates again (it never trusts the sender).
import { z } from 'zod';
import { Reason } from '@agentbus/protocol';
import { TYPE_RE } from '@agentbus/protocol';
import { allowedMetadataSet } from '@agentbus/protocol';

export const JSON_CONTENT_TYPE = 'application/json';
export const PROTO_CONTENT_TYPE_PREFIX = 'application/x-protobuf; proto=';

export type Decoded<T> = { ok: true; value: T } | { ok: false; reason: Reason; detail: string };

export interface ContractOptions {
  /** Critical types require decision-record metadata (DESIGN §5). */
  critical?: boolean;
  /** Metadata keys required in the header; default for critical: rationale, prompt_version. */
  requiredMetadata?: readonly string[];
  /**
   * Further metadata keys this type may carry (e.g. `['ticket_id']`). Required keys and the
   * global set (`rationale`, `prompt_version`, `agentbus.depth`: sdk/metadata.ts) are always
   * allowed; any other key is refused by the SDK and rejected by the verifier.
   */
  metadata?: readonly string[];
  description?: string;
}

export interface Contract<T = unknown> {
  readonly type: string;
  readonly contentType: string;
  readonly critical: boolean;
  readonly requiredMetadata: readonly string[];
  /** The metadata keys this type declares (its own and its required ones; the global set is allowed on top). */
  readonly metadata: readonly string[];
  /** Every key a header of this type may carry: the global set ∪ `metadata`. */
  readonly allowedMetadata: ReadonlySet<string>;
  readonly description: string;
  /** Validate and encode; throws ContractError-compatible info via Decoded on failure. */
  encode(value: T): Decoded<Uint8Array>;
  /** Decode and validate payload bytes (the verifier's and the receiver's check). */
  decode(payload: Uint8Array): Decoded<T>;
}

export const DEFAULT_CRITICAL_METADATA = ['rationale', 'prompt_version'] as const;

function common(type: string, opts: ContractOptions) {
  if (!TYPE_RE.test(type)) throw new RangeError(`message type ${JSON.stringify(type)} must match ${TYPE_RE}`);
  const critical = opts.critical ?? false;
  const requiredMetadata = Object.freeze([...(opts.requiredMetadata ?? (critical ? DEFAULT_CRITICAL_METADATA : []))]);
  const metadata = Object.freeze([...new Set([...(opts.metadata ?? []), ...requiredMetadata])]);
  return {
    type,
    critical,
    requiredMetadata,
    metadata,
    allowedMetadata: allowedMetadataSet(type, metadata),
    description: opts.description ?? '',
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

function describeZod(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  return `${i.message} at ${i.path.length ? i.path.join('.') : '(root)'}`;
}

/** A JSON message type checked by a zod schema. The payload type is z.infer of the schema. */
export function defineMessage<S extends z.ZodType>(type: string, schema: S, opts: ContractOptions = {}): Contract<z.infer<S>> {
  return Object.freeze({
    ...common(type, opts),
    contentType: JSON_CONTENT_TYPE,
    schema,
    encode(value: z.infer<S>): Decoded<Uint8Array> {
      const r = schema.safeParse(value);
      if (!r.success) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: describeZod(r.error) };
      return { ok: true, value: utf8enc.encode(JSON.stringify(r.data)) };
    },
    decode(payload: Uint8Array): Decoded<z.infer<S>> {
      let json: unknown;
      try {
        json = JSON.parse(utf8.decode(payload));
      } catch {
        return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: 'payload is not UTF-8 JSON' };
      }
      const r = schema.safeParse(json);
      if (!r.success) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: describeZod(r.error) };
      return { ok: true, value: r.data };
    },
  });
}

/** The slice of a protobufjs message class (static or reflected) a contract needs. */
export interface ProtoMessageType<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(reader: Uint8Array): T;
  verify?(message: Record<string, unknown>): string | null;
  /** protobufjs static classes have getTypeUrl; reflected Types have fullName. */
  fullName?: string;
  getTypeUrl?(prefix?: string): string;
}

/** A binary message type: a protobuf message (protobufjs static class or reflected Type). */
export function defineProtoMessage<T>(type: string, message: ProtoMessageType<T>, opts: ContractOptions & { protoName?: string } = {}): Contract<T> {
  const name = opts.protoName ?? message.fullName?.replace(/^\./, '') ?? message.getTypeUrl?.('').replace(/^\//, '') ?? type;
  return Object.freeze({
    ...common(type, opts),
    contentType: PROTO_CONTENT_TYPE_PREFIX + name,
    encode(value: T): Decoded<Uint8Array> {
      const err = message.verify?.(value as Record<string, unknown>);
      if (err) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: err };
      return { ok: true, value: message.encode(value).finish() };
    },
    decode(payload: Uint8Array): Decoded<T> {
      try {
        return { ok: true, value: message.decode(payload) };
      } catch {
        return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: `payload is not a valid ${name}` };
      }
    },
  });
}

/** The payload type of a contract. */
export type PayloadOf<C> = C extends Contract<infer T> ? T : never;

/** A set of contracts by type name; built once, shared by SDK and verifier. */
export class ContractRegistry {
  readonly #byType = new Map<string, Contract<any>>();
  constructor(contracts: Iterable<Contract<any>> = []) {
    for (const c of contracts) this.register(c);
  }
  register(contract: Contract<any>): this {
    if (this.#byType.has(contract.type)) throw new Error(`contract ${contract.type} is defined twice`);
    this.#byType.set(contract.type, contract);
    return this;
  }
  get(type: string): Contract<any> | undefined {
    return this.#byType.get(type);
  }
  has(type: string): boolean {
    return this.#byType.has(type);
  }
  types(): string[] {
    return [...this.#byType.keys()].sort();
  }
  get size(): number {
    return this.#byType.size;
  }
}

export function createRegistry(...contracts: Contract<any>[]): ContractRegistry {
  return new ContractRegistry(contracts);
}

/**
 * Find the contracts a module exports: a `contracts` / default export that is a registry or
 * an array, or every exported value that looks like a contract.
 */
export function registryFromModule(mod: Record<string, unknown>): ContractRegistry {
  for (const key of ['contracts', 'default']) {
    const v = mod[key];
    if (v instanceof ContractRegistry) return v;
    // a registry from another copy of this module (e.g. dist/ vs source): adopt its contracts
    if (v && typeof v === 'object' && typeof (v as ContractRegistry).types === 'function' && typeof (v as ContractRegistry).get === 'function') {
      const r = v as ContractRegistry;
      return new ContractRegistry(r.types().map((t) => r.get(t)!));
    }
    if (Array.isArray(v)) return new ContractRegistry(v as Contract[]);
  }
  const found = Object.values(mod).filter(isContract);
  return new ContractRegistry(found);
}

export function isContract(v: unknown): v is Contract {
  return typeof v === 'object' && v !== null && typeof (v as Contract).type === 'string' && typeof (v as Contract).decode === 'function' && typeof (v as Contract).contentType === 'string';
}
