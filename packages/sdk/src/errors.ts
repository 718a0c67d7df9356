import { Reason, reasonName } from '@agentbus/protocol';
import type { ToolResult } from '@agentbus/protocol';

/**
 * Base class of every error agentbus throws on purpose. `reason` comes from the generated
 * `Reason` enum: switch on it, never on the message text. Messages never carry secrets.
 */
export class AgentbusError extends Error {
  readonly reason: Reason;
  readonly detail: string;
  constructor(reason: Reason, detail = '', options?: ErrorOptions) {
    super(detail ? `${reasonName(reason)}: ${detail}` : reasonName(reason), options);
    this.name = 'AgentbusError';
    this.reason = reason;
    this.detail = detail;
  }
  /** The reason as a short snake_case name, e.g. "bad_signature". */
  get reasonName(): string {
    return reasonName(this.reason);
  }
}

/** An envelope that failed to decode or verify. Says no more than the reason. */
export class EnvelopeError extends AgentbusError {
  constructor(reason: Reason, detail = '') {
    super(reason, detail);
    this.name = 'EnvelopeError';
  }
}

/** The verifier rejected a message the client sent. */
export class RejectedError extends AgentbusError {
  readonly msgId: string;
  constructor(reason: Reason, msgId: string, detail = '') {
    super(reason, detail);
    this.name = 'RejectedError';
    this.msgId = msgId;
  }
}

/**
 * The verifier accepted the message (it is audited), but the recipient's client refused it: it
 * could not verify or decode it — its contract registry lacks the type, its manifests lack
 * the sender's key, or the payload breaks the recipient's copy of the contract. `reason` is the
 * recipient's; resending the same message would be refused again until the two sides agree.
 */
export class RefusedError extends AgentbusError {
  readonly msgId: string;
  readonly recipient: string;
  constructor(reason: Reason, msgId: string, recipient: string, detail = '') {
    super(reason, detail);
    this.name = 'RefusedError';
    this.msgId = msgId;
    this.recipient = recipient;
  }
}

/** A credential file or key that cannot be used. */
export class CredentialError extends Error {
  readonly path: string | undefined;
  constructor(message: string, path?: string, options?: ErrorOptions) {
    super(path ? `${path}: ${message}` : message, options);
    this.name = 'CredentialError';
    this.path = path;
  }
}

/**
 * The bus could not be reached when connecting (nothing listens at the address, the host is
 * unknown, the connection timed out): one line naming the address(es) tried and what to do.
 * `servers` are the addresses; `natsError` is what the NATS client threw (kept off the printed
 * error, which is the one line).
 */
export class BusConnectionError extends Error {
  readonly servers: string[];
  declare readonly natsError: unknown;
  constructor(servers: string[], why: string, natsError?: unknown) {
    const at = servers.length === 1 ? `the bus at ${servers[0]}` : `the bus at any of ${servers.join(', ')}`;
    super(
      `cannot connect to ${at}: ${why} — is it running? Start one with \`npx agentbus dev\` (its banner prints the address), or point servers (AGENTBUS_SERVERS) at it`,
    );
    this.name = 'BusConnectionError';
    this.servers = servers;
    Object.defineProperty(this, 'natsError', { value: natsError, enumerable: false });
  }
}

/** A payload that does not satisfy its contract (raised before signing, in the SDK). */
export class ContractError extends AgentbusError {
  readonly type: string;
  constructor(reason: Reason, type: string, detail: string) {
    super(reason, `${type}: ${detail}`);
    this.name = 'ContractError';
    this.type = type;
  }
}

/** No answer from the bus in time. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** The client was closed (close() was called, or its connection ended) before the send had its answer. */
export class AgentClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentClosedError';
  }
}

/**
 * The verifier accepted (and audited) the message, but the recipient's client did not confirm
 * it within the verifier's delivery timeout, after every retry: the recipient is not connected.
 * Sending the same envelope again later delivers it once (the verifier sees a duplicate).
 */
export class UndeliveredError extends Error {
  readonly msgId: string;
  constructor(msgId: string, message: string) {
    super(message);
    this.name = 'UndeliveredError';
    this.msgId = msgId;
  }
}

/**
 * NATS refused a subscription: the agent's manifest does not list the topic under
 * `topics.subscribe` (the generated nats-server permissions only allow the listed topics).
 */
export class PermissionError extends Error {
  readonly topic: string;
  /** The NATS subject that was refused. */
  readonly subject: string;
  constructor(topic: string, subject: string, options?: ErrorOptions) {
    super(
      `subscribing to topic "${topic}" was refused (NATS permissions violation for ${subject}): the agent's manifest must list "${topic}" under topics.subscribe`,
      options,
    );
    this.name = 'PermissionError';
    this.topic = topic;
    this.subject = subject;
  }
}

/**
 * A tool call the verifier accepted and the tool server answered, with `isError: true`: the tool
 * failed (or the tool host refused it: arguments against the schema, a path that resolves
 * outside its roots, a result too large). `result` is the whole CallToolResult.
 */
export class ToolError extends Error {
  readonly server: string;
  readonly tool: string;
  readonly result: ToolResult;
  /** The msg_id of the tool.result reply. */
  readonly msgId: string;
  constructor(server: string, tool: string, result: ToolResult, msgId: string, text: string) {
    const shown = text.length > 500 ? `${text.slice(0, 500)}…` : text;
    super(`tool ${tool} of ${server} failed${shown ? `: ${shown}` : ''}`);
    this.name = 'ToolError';
    this.server = server;
    this.tool = tool;
    this.result = result;
    this.msgId = msgId;
  }
}

export { Reason };
