"""Subjects, header names and limits of the wire protocol (PROTOCOL.md §3, §11, §13)."""

from __future__ import annotations

import re
from typing import Final

SUBJECT_IN_PREFIX: Final = "agentbus.in."
SUBJECT_TO_PREFIX: Final = "agentbus.to."
SUBJECT_TOPIC_PREFIX: Final = "agentbus.topic."
SUBJECT_INBOX_PREFIX: Final = "agentbus.inbox."
SUBJECT_DELIVERED_PREFIX: Final = "agentbus.delivered."
DEPTH_HEADER: Final = "Agentbus-Depth"
DEPTH_TOKEN_HEADER: Final = "Agentbus-Depth-Token"
REFUSAL_HEADER: Final = "Agentbus-Refused"
REFUSAL_DETAIL_HEADER: Final = "Agentbus-Refused-Detail"
MAX_REFUSAL_DETAIL_BYTES: Final = 256
MAX_CONFIRM_IDS: Final = 1024
# workers (PROTOCOL.md §11.1): several connections of one agent
WORKER_HEADER: Final = "Agentbus-Worker"
REPLY_ROUTE_HEADER: Final = "Agentbus-Reply-Route"
WORKER_ANSWER_TOKEN: Final = "to"

SIGNING_DOMAIN: Final = b"agentbus/v1/envelope\x00"
DEPTH_DOMAIN: Final = b"agentbus/v1/depth\x00"
AUDIT_BATCH_DOMAIN: Final = b"agentbus/v1/audit-batch\x00"
MSG_ID_BYTES: Final = 16
SIGNATURE_BYTES: Final = 64
SHA256_BYTES: Final = 32
MAX_HEADER_BYTES: Final = 16384
MAX_METADATA_ENTRIES: Final = 32
MAX_SENT_AT_MS: Final = 7_258_118_399_999
MAX_METADATA_VALUE_BYTES: Final = 1024
MAX_METADATA_BYTES: Final = 4096
DEPTH_TOKEN_METADATA: Final = "agentbus.depth"
GLOBAL_METADATA_KEYS: Final = ("rationale", "prompt_version", DEPTH_TOKEN_METADATA)
DEFAULT_CRITICAL_METADATA: Final = ("rationale", "prompt_version")
JSON_CONTENT_TYPE: Final = "application/json"
PROTO_CONTENT_TYPE_PREFIX: Final = "application/x-protobuf; proto="

# Python's `$` also matches before a final newline: fullmatch() everywhere.
AGENT_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
TYPE_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}(\.[a-z0-9][a-z0-9_-]{0,63}){0,7}")
TOPIC_RE: Final = TYPE_RE
METADATA_KEY_RE: Final = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
TOOL_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
WORKER_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,32}")


def is_agent_id(s: str) -> bool:
    return AGENT_ID_RE.fullmatch(s) is not None


def is_type(s: str) -> bool:
    return TYPE_RE.fullmatch(s) is not None
