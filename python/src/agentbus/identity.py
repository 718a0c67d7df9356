"""Agent identity: an id, Ed25519 envelope-signing keys, and a separate NATS user nkey (the NATS
login key is never a signing key: docs/design.md §2). The credential file is the one the TS SDK
and ``agentbus keygen`` write (JSON, mode 0600); seeds are never printed and are wiped by
``destroy()``."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

import nkeys

from . import ed25519
from .constants import is_agent_id
from .errors import CredentialError

CREDENTIALS_VERSION = 1
_NATS_SEED_RE = re.compile(r"SU[A-Z2-7]{56}")
_SEED_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def key_id_for(public_key: bytes) -> str:
    """``"k"`` + the first 16 hex characters of SHA-256(public key)."""
    return "k" + hashlib.sha256(public_key).hexdigest()[:16]


def b64url_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64url_encode(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def parse_iso(s: str | dt.datetime) -> dt.datetime:
    """ISO 8601 with an offset (``Z`` allowed), or a datetime (YAML reads unquoted ones so)."""
    d = s if isinstance(s, dt.datetime) else dt.datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    return d


def to_ms(d: dt.datetime) -> int:
    return int(d.timestamp() * 1000)


class SigningKey:
    """One Ed25519 envelope-signing key with its validity window."""

    def __init__(self, seed: bytes, *, not_before: dt.datetime | None = None, not_after: dt.datetime | None = None) -> None:
        if len(seed) != 32:
            raise ValueError("seed: expected 32 bytes")
        self._signer = ed25519.Signer(seed)
        self.public_key: bytes = self._signer.public_key
        self.key_id: str = key_id_for(self.public_key)
        self.not_before = not_before
        self.not_after = not_after

    def sign(self, message: bytes) -> bytes:
        return self._signer.sign(message)

    def valid_at(self, at: dt.datetime) -> bool:
        if self.not_before is not None and at < self.not_before:
            return False
        if self.not_after is not None and at > self.not_after:
            return False
        return True

    def destroy(self) -> None:
        self._signer.destroy()

    def __repr__(self) -> str:
        return f"SigningKey({self.key_id})"


class AgentIdentity:
    """An agent's keys. The newest key valid now signs."""

    def __init__(self, agent_id: str, keys: list[SigningKey], nats_seed: str) -> None:
        if not is_agent_id(agent_id):
            raise ValueError(f"agent id {agent_id!r} is not a valid agent id")
        if not keys:
            raise ValueError("an identity needs at least one signing key")
        self.agent_id = agent_id
        self.keys = keys
        self._nats_seed = bytearray(nats_seed.encode("ascii"))
        kp = nkeys.from_seed(bytearray(self._nats_seed))
        self.nats_public_key: str = kp.public_key.decode("ascii")
        kp.wipe()

    def current_key(self, at: dt.datetime | None = None) -> SigningKey:
        now = at or dt.datetime.now(dt.timezone.utc)
        for k in reversed(self.keys):
            if k.valid_at(now):
                return k
        raise CredentialError(f"agent {self.agent_id} has no signing key valid at {now.isoformat()}")

    def nats_seed(self) -> str:
        """The NATS user nkey seed (``SU...``), for the connection's nkey authentication."""
        return self._nats_seed.decode("ascii")

    def destroy(self) -> None:
        for k in self.keys:
            k.destroy()
        for i in range(len(self._nats_seed)):
            self._nats_seed[i] = 0

    def __repr__(self) -> str:
        return f"AgentIdentity({self.agent_id}, keys={','.join(k.key_id for k in self.keys)})"


@dataclass(frozen=True)
class _Issue(Exception):
    message: str
    path: str


def _check(cond: bool, message: str, path: str) -> None:
    if not cond:
        raise _Issue(message, path)


def _parse_credentials(raw: Any) -> tuple[str, str, list[dict[str, Any]]]:
    _check(isinstance(raw, dict), "expected object", "(root)")
    allowed = {"agentbus_credentials", "agent", "nats_seed", "keys"}
    for k in raw:
        _check(k in allowed, f'unrecognized key: "{k}"', "(root)")
    _check(raw.get("agentbus_credentials") == CREDENTIALS_VERSION, f"expected {CREDENTIALS_VERSION}", "agentbus_credentials")
    agent = raw.get("agent")
    _check(isinstance(agent, str) and is_agent_id(agent), "not a valid agent id", "agent")
    seed = raw.get("nats_seed")
    _check(isinstance(seed, str) and _NATS_SEED_RE.fullmatch(seed) is not None, "not a NATS user nkey seed", "nats_seed")
    keys = raw.get("keys")
    _check(isinstance(keys, list) and len(keys) >= 1, "expected a non-empty array", "keys")
    for i, k in enumerate(keys):
        _check(isinstance(k, dict), "expected object", f"keys.{i}")
        for f in k:
            _check(f in {"key_id", "seed", "not_before", "not_after"}, f'unrecognized key: "{f}"', f"keys.{i}")
        _check(isinstance(k.get("key_id"), str), "expected string", f"keys.{i}.key_id")
        s = k.get("seed")
        _check(isinstance(s, str) and _SEED_RE.fullmatch(s) is not None, "not a base64url 32-byte seed", f"keys.{i}.seed")
        for f in ("not_before", "not_after"):
            if f in k:
                try:
                    parse_iso(k[f])
                except (TypeError, ValueError):
                    raise _Issue("invalid ISO datetime", f"keys.{i}.{f}") from None
    return agent, seed, keys


def load_credentials(path: str | os.PathLike[str]) -> AgentIdentity:
    """Load a credential file. Refuses one readable by group or others, one that is not valid JSON
    of the expected shape, and one whose key ids do not match its seeds. Errors name the file
    and the field, never a secret."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError as e:
        code = e.errno and __import__("errno").errorcode.get(e.errno, "error")
        raise CredentialError(f"cannot read credential file ({code or 'error'})", p) from None
    if sys.platform != "win32" and st.st_mode & 0o077:
        raise CredentialError(
            f"credential file is accessible by group or others (mode {st.st_mode & 0o777:o}); run: chmod 600 {p}", p
        )
    try:
        with open(p, encoding="utf-8") as f:
            raw = json.load(f)
    except (ValueError, UnicodeDecodeError):
        raise CredentialError("credential file is not valid JSON", p) from None
    try:
        agent, nats_seed, key_docs = _parse_credentials(raw)
    except _Issue as issue:
        raise CredentialError(f"malformed credential file: {issue.message} at {issue.path}", p) from None
    keys: list[SigningKey] = []
    for i, k in enumerate(key_docs):
        try:
            seed = b64url_decode(k["seed"])
        except (binascii.Error, ValueError):
            raise CredentialError(f"malformed credential file: not a base64url 32-byte seed at keys.{i}.seed", p) from None
        key = SigningKey(
            seed,
            not_before=parse_iso(k["not_before"]) if "not_before" in k else None,
            not_after=parse_iso(k["not_after"]) if "not_after" in k else None,
        )
        if key.key_id != k["key_id"]:
            raise CredentialError(f"malformed credential file: key_id does not match its seed at keys.{i}.key_id", p)
        keys.append(key)
    try:
        return AgentIdentity(agent, keys, nats_seed)
    except Exception:
        raise CredentialError("malformed credential file: bad nats_seed at nats_seed", p) from None
