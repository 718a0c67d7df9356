"""Depth tokens (PROTOCOL.md §9): the verifier's proof that it delivered msg_id to a recipient
at a depth. A client never mints or checks them: it relays the token of the message it
answers in the ``agentbus.depth`` metadata. Minting and checking are here for the vectors and
for tools that hold the depth key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct

from .constants import DEPTH_DOMAIN

TOPIC_RECIPIENT_PREFIX = "topic:"
DEPTH_TOKEN_RE = re.compile(r"(\d{1,10})\.([A-Za-z0-9_-]{22})")


def mac_input(msg_id: bytes, recipient: str, depth: int) -> bytes:
    """recipient: an agent id, or ``topic:<name>``."""
    r = recipient.encode("latin-1")
    if len(r) >= 1024:
        raise ValueError("depth token: recipient too long")
    return DEPTH_DOMAIN + msg_id[:16].ljust(16, b"\x00") + struct.pack(">H", len(r)) + r + struct.pack(">I", depth & 0xFFFFFFFF)


def mac(key: bytes, msg_id: bytes, recipient: str, depth: int) -> bytes:
    """HMAC-SHA-512 truncated to 32 bytes (libsodium crypto_auth)."""
    return hmac.new(key, mac_input(msg_id, recipient, depth), hashlib.sha512).digest()[:32]


def mint(key: bytes, msg_id: bytes, recipient: str, depth: int) -> str:
    m = mac(key, msg_id, recipient, depth)
    return f"{depth}." + base64.urlsafe_b64encode(m[:16]).rstrip(b"=").decode("ascii")


def depth_of(key: bytes, msg_id: bytes, recipient: str, token: str) -> int | None:
    """The depth a token vouches for (msg_id delivered to recipient), or None."""
    m = DEPTH_TOKEN_RE.fullmatch(token)
    if m is None or not m.group(1).isascii():
        return None
    depth = int(m.group(1))
    if depth > 0xFFFFFFFF:
        return None
    expected = mint(key, msg_id, recipient, depth)
    return depth if hmac.compare_digest(expected.encode(), token.encode()) else None
