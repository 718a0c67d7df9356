"""The errors agentbus raises on purpose, with the TypeScript SDK's names and one-line messages
(packages/sdk/src/errors.ts). Switch on ``reason`` (a :class:`Reason`, or an ``int`` for a number
this version does not know), never on the message text. Messages never carry secrets.
"""

from __future__ import annotations

import builtins
from typing import Any

from .reasons import Reason, as_reason, reason_name


class AgentbusError(Exception):
    """Base of the errors that carry a verdict reason: message ``<reason_name>[: <detail>]``."""

    def __init__(self, reason: int, detail: str = "") -> None:
        self.reason: Reason | int = as_reason(reason)
        self.detail = detail
        super().__init__(f"{reason_name(reason)}: {detail}" if detail else reason_name(reason))

    @property
    def reason_name(self) -> str:
        """The reason as a short snake_case name, e.g. ``bad_signature``."""
        return reason_name(self.reason)


class EnvelopeError(AgentbusError):
    """An envelope that failed to decode or verify."""


class RejectedError(AgentbusError):
    """The verifier rejected a message this client sent."""

    def __init__(self, reason: int, msg_id: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.msg_id = msg_id


class RefusedError(AgentbusError):
    """The verifier accepted (and audited) the message, but the recipient's client refused it: it
    could not verify or decode it. ``reason`` is the recipient's; resending would be refused again."""

    def __init__(self, reason: int, msg_id: str, recipient: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.msg_id = msg_id
        self.recipient = recipient


class ContractError(AgentbusError):
    """A payload or header that breaks its contract, raised before signing (nothing is sent)."""

    def __init__(self, reason: int, type: str, detail: str) -> None:
        super().__init__(reason, f"{type}: {detail}")
        self.type = type


class CredentialError(Exception):
    """A credential file or key that cannot be used."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class TimeoutError(builtins.TimeoutError):
    """No answer from the bus in time. A subclass of the builtin TimeoutError."""


class AgentClosedError(Exception):
    """The client was closed (close() was called) before the send had its answer."""


class UndeliveredError(Exception):
    """The verifier accepted (and audited) the message, but the recipient's client did not
    confirm it after every retry: the recipient is not connected. Sending the same envelope
    again later delivers it once (the verifier sees a duplicate)."""

    def __init__(self, msg_id: str, message: str) -> None:
        super().__init__(message)
        self.msg_id = msg_id


class PermissionError(builtins.PermissionError):
    """NATS refused a subscription: the manifest does not list the topic under topics.subscribe."""

    def __init__(self, topic: str, subject: str) -> None:
        super().__init__(
            f'subscribing to topic "{topic}" was refused (NATS permissions violation for {subject}): '
            f'the agent\'s manifest must list "{topic}" under topics.subscribe'
        )
        self.topic = topic
        self.subject = subject


class ToolError(Exception):
    """A tool call the verifier accepted and the tool server answered with ``isError: true``."""

    def __init__(self, server: str, tool: str, result: dict[str, Any], msg_id: str, text: str) -> None:
        shown = text[:500] + "…" if len(text) > 500 else text
        super().__init__(f"tool {tool} of {server} failed" + (f": {shown}" if shown else ""))
        self.server = server
        self.tool = tool
        self.result = result
        self.msg_id = msg_id


class MemoryError(Exception):  # noqa: A001 - the TS SDK's name; builtins.MemoryError is not shadowed at import
    """An operation the memory service refused or could not do: ``code`` says which."""

    def __init__(self, code: str, op: str, ns: str, key: str | None, detail: str) -> None:
        super().__init__(f"memory {op} {ns}{'/' + key if key else ''}: {code}: {detail}")
        self.code = code
        self.op = op
        self.ns = ns
        self.key = key


__all__ = [
    "AgentbusError",
    "ContractError",
    "CredentialError",
    "EnvelopeError",
    "MemoryError",
    "PermissionError",
    "RefusedError",
    "RejectedError",
    "TimeoutError",
    "ToolError",
    "UndeliveredError",
]
