"""Envelope framing, header decoding, sealing and opening (PROTOCOL.md §4-§6).

The outer ``Envelope`` is parsed strictly (fields 1-3, wire type 2, each at most once, in
order); the ``Header`` is decoded with standard proto3 rules from the signed bytes, which are
never re-encoded.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from . import ed25519
from .constants import (
    MAX_HEADER_BYTES,
    MAX_METADATA_ENTRIES,
    MAX_SENT_AT_MS,
    MSG_ID_BYTES,
    SHA256_BYTES,
    SIGNATURE_BYTES,
    SIGNING_DOMAIN,
    is_agent_id,
    is_type,
)
from .reasons import Reason
from .v1 import envelope_pb2


@dataclass(frozen=True)
class EnvelopeParts:
    header_bytes: bytes
    payload: bytes
    signature: bytes


@dataclass(frozen=True)
class HeaderFields:
    sender: str
    key_id: str
    recipient: str
    topic: str
    type: str
    msg_id: bytes
    sent_at_ms: int
    payload_sha256: bytes
    content_type: str
    trace_id: bytes = b""
    span_id: bytes = b""
    causation_id: bytes = b""
    depth: int = 0
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Opened:
    parts: EnvelopeParts
    header: HeaderFields


class Invalid(Exception):
    """Why an envelope does not parse, decode or verify: a reason and the reference detail."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail or reason.name.lower())
        self.reason = reason
        self.detail = detail


KeyResolver = Callable[[str, str, int], "bytes | Reason"]
"""(sender, key_id, at_ms) -> the 32-byte public key, or the reason it cannot be used."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def signing_input(header_bytes: bytes) -> bytes:
    return SIGNING_DOMAIN + header_bytes


def new_msg_id() -> bytes:
    return os.urandom(MSG_ID_BYTES)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_envelope(parts: EnvelopeParts) -> bytes:
    """The canonical encoding: non-empty fields in order, tag, minimal varint length, bytes."""
    out = bytearray()
    for i, f in enumerate((parts.header_bytes, parts.payload, parts.signature)):
        if not f:
            continue
        out.append(((i + 1) << 3) | 2)
        out += _varint(len(f))
        out += f
    return bytes(out)


def parse_envelope(data: bytes) -> EnvelopeParts:
    """Strict parse of the outer Envelope (§4). Raises Invalid(MALFORMED, detail)."""
    parts: list[bytes] = [b"", b"", b""]
    pos = 0
    last = 0
    end = len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        fld = tag >> 3
        if (tag & 7) != 2 or fld < 1 or fld > 3 or fld <= last:
            raise Invalid(Reason.MALFORMED, "envelope: unexpected field")
        last = fld
        length = 0
        shift = 0
        while True:
            if pos >= end or shift > 21:
                raise Invalid(Reason.MALFORMED, "envelope: bad length")
            b = data[pos]
            pos += 1
            length += (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        if length == 0 or length > end - pos:
            raise Invalid(Reason.MALFORMED, "envelope: bad length")
        parts[fld - 1] = bytes(data[pos : pos + length])
        pos += length
    header_bytes, payload, signature = parts
    if not header_bytes:
        raise Invalid(Reason.MALFORMED, "envelope: no header")
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise Invalid(Reason.MALFORMED, "envelope: header too large")
    if len(signature) != SIGNATURE_BYTES:
        raise Invalid(Reason.MALFORMED, "envelope: signature must be 64 bytes")
    return EnvelopeParts(header_bytes, payload, signature)


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def decode_header(header_bytes: bytes) -> HeaderFields:
    """Decode and validate the signed header bytes (§5). Raises Invalid(MALFORMED, detail)."""
    h = envelope_pb2.Header()
    try:
        h.ParseFromString(header_bytes)
    except (DecodeError, ValueError, RuntimeError):
        raise Invalid(Reason.MALFORMED, "header: does not decode") from None

    def bad(detail: str) -> Invalid:
        return Invalid(Reason.MALFORMED, detail)

    if not is_agent_id(h.sender):
        raise bad("header: bad sender")
    if not 1 <= _utf16_len(h.key_id) <= 128:
        raise bad("header: bad key_id")
    if (h.recipient == "") == (h.topic == ""):
        raise bad("header: exactly one of recipient or topic")
    if h.recipient and not is_agent_id(h.recipient):
        raise bad("header: bad recipient")
    if h.topic and not is_type(h.topic):
        raise bad("header: bad topic")
    if not is_type(h.type):
        raise bad("header: bad type")
    if len(h.msg_id) != MSG_ID_BYTES:
        raise bad("header: msg_id must be 16 bytes")
    if len(h.payload_sha256) != SHA256_BYTES:
        raise bad("header: payload_sha256 must be 32 bytes")
    if len(h.trace_id) not in (0, 16):
        raise bad("header: trace_id must be 16 bytes")
    if len(h.span_id) not in (0, 8):
        raise bad("header: span_id must be 8 bytes")
    if len(h.causation_id) not in (0, MSG_ID_BYTES):
        raise bad("header: causation_id must be 16 bytes")
    if h.sent_at_ms > MAX_SENT_AT_MS:
        raise bad("header: sent_at_ms out of range")
    if len(h.metadata) > MAX_METADATA_ENTRIES:
        raise bad("header: too much metadata")
    return HeaderFields(
        sender=h.sender,
        key_id=h.key_id,
        recipient=h.recipient,
        topic=h.topic,
        type=h.type,
        msg_id=h.msg_id,
        sent_at_ms=h.sent_at_ms,
        payload_sha256=h.payload_sha256,
        content_type=h.content_type,
        trace_id=h.trace_id,
        span_id=h.span_id,
        causation_id=h.causation_id,
        depth=h.depth,
        metadata=dict(h.metadata),
    )


def encode_header(f: HeaderFields) -> bytes:
    h = envelope_pb2.Header(
        sender=f.sender,
        key_id=f.key_id,
        recipient=f.recipient,
        topic=f.topic,
        type=f.type,
        msg_id=f.msg_id,
        sent_at_ms=f.sent_at_ms,
        payload_sha256=f.payload_sha256,
        content_type=f.content_type,
        trace_id=f.trace_id,
        span_id=f.span_id,
        causation_id=f.causation_id,
        depth=f.depth,
    )
    for k, v in f.metadata.items():
        h.metadata[k] = v
    out: bytes = h.SerializeToString(deterministic=True)
    return out


@dataclass(frozen=True)
class Sealed:
    data: bytes
    """The encoded Envelope: what goes on the wire (and again, unchanged, on a retry)."""
    header: HeaderFields


def seal_envelope(
    *,
    sender: str,
    key_id: str,
    sign: Callable[[bytes], bytes],
    type: str,
    payload: bytes,
    content_type: str,
    recipient: str = "",
    topic: str = "",
    metadata: Mapping[str, str] | None = None,
    causation_id: bytes = b"",
    depth: int = 0,
    trace_id: bytes = b"",
    span_id: bytes = b"",
    msg_id: bytes | None = None,
    sent_at_ms: int | None = None,
) -> Sealed:
    """Build, sign and encode an envelope. Raises ValueError on bad input."""
    if not is_agent_id(sender):
        raise ValueError(f"sender: not a valid agent id: {sender!r}")
    if (recipient == "") == (topic == ""):
        raise ValueError("exactly one of recipient or topic must be set")
    if recipient and not is_agent_id(recipient):
        raise ValueError(f"recipient: not a valid agent id: {recipient!r}")
    if topic and not is_type(topic):
        raise ValueError(f"topic: not a valid topic name: {topic!r}")
    if not is_type(type):
        raise ValueError(f"type: not a valid message type: {type!r}")
    mid = msg_id if msg_id is not None else new_msg_id()
    if len(mid) != MSG_ID_BYTES:
        raise ValueError(f"msg_id: expected {MSG_ID_BYTES} bytes")
    header = HeaderFields(
        sender=sender,
        key_id=key_id,
        recipient=recipient,
        topic=topic,
        type=type,
        msg_id=mid,
        sent_at_ms=sent_at_ms if sent_at_ms is not None else int(time.time() * 1000),
        payload_sha256=sha256(payload),
        content_type=content_type,
        trace_id=trace_id,
        span_id=span_id,
        causation_id=causation_id,
        depth=depth,
        metadata=dict(metadata or {}),
    )
    header_bytes = encode_header(header)
    if len(header_bytes) > MAX_HEADER_BYTES:
        raise ValueError(f"header: {len(header_bytes)} bytes exceeds {MAX_HEADER_BYTES}")
    signature = sign(signing_input(header_bytes))
    return Sealed(encode_envelope(EnvelopeParts(header_bytes, payload, signature)), header)


def open_envelope(data: bytes, resolve_key: KeyResolver, *, verify_signature: bool = True) -> Opened:
    """Parse, decode, and check the signature (§6.2 rule) and the payload hash.

    Raises Invalid with the reason (malformed, unknown sender or key, bad signature, payload
    hash mismatch). The key is resolved at the header's sent_at_ms (§7.2).
    """
    parts = parse_envelope(data)
    h = decode_header(parts.header_bytes)
    if verify_signature:
        key = resolve_key(h.sender, h.key_id, h.sent_at_ms)
        if isinstance(key, Reason):
            raise Invalid(key, "")
        if not ed25519.verify(key, signing_input(parts.header_bytes), parts.signature):
            raise Invalid(Reason.BAD_SIGNATURE, "")
    if sha256(parts.payload) != h.payload_sha256:
        raise Invalid(Reason.PAYLOAD_HASH_MISMATCH, "")
    return Opened(parts, h)
