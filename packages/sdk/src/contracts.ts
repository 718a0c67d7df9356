// Message types are contracts: a type name maps to a zod schema (JSON payloads) or a protobuf
// message (binary payloads). The SDK validates before signing; the verifier loads the same
// module and validates again (it never trusts the sender).
import { z } from 'zod';
import { Reason, parseStrictJson } from '@agentbus/protocol';
import { TYPE_RE } from '@agentbus/protocol';
import { allowedMetadataSet, GuardPolicy } from '@agentbus/protocol';

/** The content type of a JSON contract's payload. */
export const JSON_CONTENT_TYPE = 'application/json';
export const PROTO_CONTENT_TYPE_PREFIX = 'application/x-protobuf; proto=';

/**
 * A decode's result. A JSON contract's success also carries `text`: the payload as decoded
 * (UTF-8, fatal, a leading BOM dropped) that JSON.parse accepted, so the verifier's content
 * guards scan that text instead of decoding and parsing the payload again.
 */
export type Decoded<T> = { ok: true; value: T; text?: string } | { ok: false; reason: Reason; detail: string };

/** Options of defineMessage() and defineProtoMessage(). */
export interface ContractOptions {
  /** Critical types require decision-record metadata (docs/design.md §5). */
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
  /**
   * Content guards for this type (docs/design.md §12): per finding kind `reject`, `flag` (deliver,
   * record, alert) or `off`. A kind not set here takes the sender's manifest, else the default
   * (every kind rejected). The sender's manifest `guards:` overrides this per kind.
   */
  guards?: GuardPolicy;
  /** Binary (protobuf) payloads: the string fields that are text, scanned by the content guards. */
  textFields?: readonly string[];
}

/**
 * A message type: `T` is the payload a receiver gets (the schema's output), `Type` the literal
 * type name (so a registry knows its types at compile time), `In` what a sender passes (the
 * schema's input: fields with defaults may be left out).
 */
export interface Contract<T = unknown, Type extends string = string, In = T> {
  readonly type: Type;
  readonly contentType: string;
  readonly critical: boolean;
  readonly requiredMetadata: readonly string[];
  /** The metadata keys this type declares (its own and its required ones; the global set is allowed on top). */
  readonly metadata: readonly string[];
  /** Every key a header of this type may carry: the global set ∪ `metadata`. */
  readonly allowedMetadata: ReadonlySet<string>;
  readonly description: string;
  /** Content guards of this type (undefined: the sender's manifest, else the default). */
  readonly guards?: GuardPolicy | undefined;
  /** Binary payloads: the string fields the content guards scan. */
  readonly textFields?: readonly string[] | undefined;
  /** Validate and encode; throws ContractError-compatible info via Decoded on failure. */
  encode(value: In): Decoded<Uint8Array>;
  /** Decode and validate payload bytes (the verifier's and the receiver's check). */
  decode(payload: Uint8Array): Decoded<T>;
}

/** The metadata a critical message type (`critical: true`) requires by default: the decision record. */
export const DEFAULT_CRITICAL_METADATA = ['rationale', 'prompt_version'] as const;

function common<Type extends string>(type: Type, opts: ContractOptions) {
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
    ...(opts.guards ? { guards: GuardPolicy.parse(opts.guards) } : {}),
    ...(opts.textFields ? { textFields: Object.freeze([...opts.textFields]) } : {}),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8enc = new TextEncoder();

function describeZod(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  return `${i.message} at ${i.path.length ? i.path.join('.') : '(root)'}`;
}

/**
 * A JSON payload's value and text: strict UTF-8 (a leading BOM dropped), then strict JSON — no
 * key twice in an object (after escape decoding), bounded depth (protocol's parseStrictJson).
 * Every JSON contract decodes through it, so a payload has one meaning wherever it is read.
 */
export function decodeJsonPayload(payload: Uint8Array): { ok: true; value: unknown; text: string } | { ok: false; reason: Reason; detail: string } {
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: 'payload is not UTF-8 JSON' };
  }
  const strict = parseStrictJson(text);
  if (!strict.ok)
    return {
      ok: false,
      reason: Reason.REASON_SCHEMA_INVALID,
      detail: strict.detail === 'not JSON' ? 'payload is not UTF-8 JSON' : `payload: ${strict.detail}`,
    };
  return { ok: true, value: strict.value, text };
}

/**
 * A JSON message type checked by a zod schema. The payload type is z.output of the schema (what
 * a receiver gets), the sender passes z.input; the type name is kept as a literal type.
 */
export function defineMessage<const Type extends string, S extends z.ZodType>(
  type: Type,
  schema: S,
  opts: ContractOptions = {},
): Contract<z.output<S>, Type, z.input<S>> {
  return Object.freeze({
    ...common(type, opts),
    contentType: JSON_CONTENT_TYPE,
    schema,
    encode(value: z.input<S>): Decoded<Uint8Array> {
      const r = schema.safeParse(value);
      if (!r.success) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: describeZod(r.error) };
      return { ok: true, value: utf8enc.encode(JSON.stringify(r.data)) };
    },
    decode(payload: Uint8Array): Decoded<z.infer<S>> {
      const parsed = decodeJsonPayload(payload);
      if (!parsed.ok) return parsed;
      const { value: json, text } = parsed;
      const r = schema.safeParse(json);
      if (!r.success) return { ok: false, reason: Reason.REASON_SCHEMA_INVALID, detail: describeZod(r.error) };
      return { ok: true, value: r.data, text };
    },
  });
}

/** The slice of a protobufjs message class (static or reflected) a contract needs. */
export interface ProtoMessageType<T> {
  /** protobufjs: a writer whose finish() gives the bytes. */
  encode(message: T): {
    /** The encoded bytes. */
    finish(): Uint8Array;
  };
  /** protobufjs: the message from its bytes (throws on bad input). */
  decode(reader: Uint8Array): T;
  /** protobufjs: an error text, or null when the plain object is a valid message. */
  verify?(message: Record<string, unknown>): string | null;
  /** protobufjs static classes have getTypeUrl; reflected Types have fullName. */
  fullName?: string;
  /** protobufjs static classes: the type URL (`type.googleapis.com/<full name>`). */
  getTypeUrl?(prefix?: string): string;
}

/** A binary message type: a protobuf message (protobufjs static class or reflected Type). */
export function defineProtoMessage<T, const Type extends string = string>(
  type: Type,
  message: ProtoMessageType<T>,
  opts: ContractOptions & { protoName?: string } = {},
): Contract<T, Type> {
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

/**
 * Any contract: what an untyped registry holds. Its `type` is `any` (not `string`) so an untyped
 * registry, and an `AgentClient` over one, is assignable both ways with a typed one.
 */
export type AnyContract = Contract<any, any, any>;

/** The payload type of a contract (what a receiver gets). */
export type PayloadOf<C> = C extends Contract<infer T, any, any> ? T : never;
/** What a sender passes for a contract (the schema's input; equal to PayloadOf for most schemas). */
export type InputOf<C> = C extends Contract<any, any, infer In> ? In : never;

/**
 * A set of contracts by type name; built once, shared by SDK and verifier. `C` is the union of
 * its contracts (createRegistry infers it); an untyped registry (`ContractRegistry`, e.g. from
 * registryFromModule) knows only `string` types and `unknown` payloads.
 */
export class ContractRegistry<C extends AnyContract = AnyContract> {
  readonly #byType = new Map<string, AnyContract>();
  constructor(contracts: Iterable<C> = []) {
    for (const c of contracts) this.register(c);
  }
  /** Add a contract at runtime; the returned registry's static type includes it. */
  register<D extends AnyContract>(contract: D): ContractRegistry<C | D> {
    if (this.#byType.has(contract.type)) throw new Error(`contract ${contract.type} is defined twice`);
    this.#byType.set(contract.type, contract);
    return this as ContractRegistry<C | D>;
  }
  /** The contract of `type`, or undefined. */
  get(type: string): C | undefined {
    return this.#byType.get(type) as C | undefined;
  }
  /** Does the registry hold `type`? */
  has(type: string): boolean {
    return this.#byType.has(type);
  }
  /** Every type it holds. */
  types(): string[] {
    return [...this.#byType.keys()].sort();
  }
  get size(): number {
    return this.#byType.size;
  }
}

/** A registry of these contracts, typed by them: `createRegistry(Task, Result)`. */
export function createRegistry<const Cs extends readonly AnyContract[]>(...contracts: Cs): ContractRegistry<Cs[number]> {
  return new ContractRegistry<Cs[number]>(contracts);
}

/** The contracts of a registry (a union). */
export type ContractsOf<R> = R extends ContractRegistry<infer C> ? C : never;
type IsAny<T> = 0 extends 1 & T ? true : false;
type TypeNames<C> = C extends { readonly type: infer T } ? (IsAny<T> extends true ? string : T & string) : never;
/** The type names a registry knows: a union of literals, or `string` for an untyped registry. */
export type TypesOf<R> = TypeNames<ContractsOf<R>>;
/** True when a registry's types are not known at compile time (then every type string and payload is allowed). */
type Untyped<R> = string extends TypesOf<R> ? true : false;
/** The contract of type `T` in registry `R`. */
export type ContractFor<R, T extends string> = Extract<ContractsOf<R>, { readonly type: T }>;
/** The payload a receiver gets for type `T` (unknown for an untyped registry). */
export type PayloadFor<R, T extends TypesOf<R>> = Untyped<R> extends true ? unknown : PayloadOf<ContractFor<R, T>>;
/** What a sender passes for type `T` (unknown for an untyped registry). */
export type InputFor<R, T extends TypesOf<R>> = Untyped<R> extends true ? unknown : InputOf<ContractFor<R, T>>;

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
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Contract).type === 'string' &&
    typeof (v as Contract).decode === 'function' &&
    typeof (v as Contract).contentType === 'string'
  );
}
