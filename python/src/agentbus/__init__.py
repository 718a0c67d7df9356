"""agentbus: the Python client of the agentbus message bus (docs/design.md §16).

Same guarantees and errors as the TypeScript SDK: every envelope signed and verified under
one Ed25519 acceptance rule, payloads checked against the contracts the registry exports
(``agentbus contracts export``), delivery confirmed, retries resend the same envelope.
"""

from .client import (
    DEFAULT_SEND_RETRIES,
    DEFAULT_SEND_TIMEOUT_S,
    AgentClient,
    InboundMessage,
    MessageQueue,
    SendResult,
    connect_agent,
)
from .contracts import Contract, Registry
from .envelope import HeaderFields, open_envelope, parse_envelope, decode_header, seal_envelope
from .errors import (
    AgentbusError,
    ContractError,
    CredentialError,
    EnvelopeError,
    MemoryError,
    PermissionError,
    RefusedError,
    RejectedError,
    TimeoutError,
    ToolError,
    UndeliveredError,
    AgentClosedError,
)
from .identity import AgentIdentity, SigningKey, key_id_for, load_credentials
from .manifests import PeerKeys
from .memory import Memory, MemoryEntry, MemoryPage, MemoryWatch
from .reasons import Delivery, Reason, Verdict, reason_from_name, reason_name

__all__ = [
    "DEFAULT_SEND_RETRIES",
    "DEFAULT_SEND_TIMEOUT_S",
    "AgentClient",
    "AgentIdentity",
    "AgentbusError",
    "Contract",
    "ContractError",
    "CredentialError",
    "Delivery",
    "EnvelopeError",
    "HeaderFields",
    "InboundMessage",
    "Memory",
    "MemoryEntry",
    "MemoryError",
    "MemoryPage",
    "MemoryWatch",
    "MessageQueue",
    "PeerKeys",
    "PermissionError",
    "Reason",
    "RefusedError",
    "Registry",
    "RejectedError",
    "SendResult",
    "SigningKey",
    "TimeoutError",
    "ToolError",
    "UndeliveredError",
    "AgentClosedError",
    "Verdict",
    "connect_agent",
    "decode_header",
    "key_id_for",
    "load_credentials",
    "open_envelope",
    "parse_envelope",
    "reason_from_name",
    "reason_name",
    "seal_envelope",
]
