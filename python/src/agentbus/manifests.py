"""Peer public keys for the receiver's end-to-end signature check, read from the same manifest
files the verifier uses (only ``agent`` and ``keys``; PROTOCOL.md §7.1, §7.2). The directory is
read again when an unknown key shows up (at most once a second), so a rotated key is picked up.
A manifest that does not parse is skipped here (the verifier reports it)."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from typing import Any

import yaml

from .identity import b64url_decode, parse_iso, to_ms
from .reasons import Reason

_MANIFEST_FILE = re.compile(r"[^._].*\.(ya?ml|json)")  # not hidden, not a `_` file (`_defaults.yaml`: project defaults)
_B64_32 = re.compile(r"[A-Za-z0-9_-]{43}")
_NEVER = 2**62


@dataclass(frozen=True)
class CompiledKey:
    public_key: bytes
    not_before_ms: int
    not_after_ms: int
    revoked: bool


def _compile(k: Any) -> tuple[str, CompiledKey]:
    if not isinstance(k, dict):
        raise ValueError("key: expected object")
    kid = k.get("key_id")
    pk = k.get("public_key")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 128:
        raise ValueError("key_id")
    if not isinstance(pk, str) or _B64_32.fullmatch(pk) is None:
        raise ValueError("public_key")
    nb = k.get("not_before")
    na = k.get("not_after")
    revoked = k.get("revoked", False)
    if not isinstance(revoked, bool):
        raise ValueError("revoked")
    return kid, CompiledKey(
        public_key=b64url_decode(pk),
        not_before_ms=to_ms(parse_iso(nb)) if nb is not None else -_NEVER,
        not_after_ms=to_ms(parse_iso(na)) if na is not None else _NEVER,
        revoked=revoked,
    )


def read_manifest_keys(directory: str | os.PathLike[str]) -> dict[str, dict[str, CompiledKey]]:
    out: dict[str, dict[str, CompiledKey]] = {}
    try:
        names = sorted(n for n in os.listdir(directory) if _MANIFEST_FILE.fullmatch(n))
    except OSError:
        return out
    for n in names:
        path = os.path.join(directory, n)
        try:
            if not os.path.isfile(path):
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            doc = json.loads(text) if n.endswith(".json") else yaml.safe_load(text)
            if not isinstance(doc, dict) or not isinstance(doc.get("agent"), str) or not isinstance(doc.get("keys"), list):
                continue
            out[doc["agent"]] = dict(_compile(k) for k in doc["keys"])
        except (OSError, ValueError, TypeError, yaml.YAMLError):
            continue
    return out


def resolve_compiled_key(keys: dict[str, CompiledKey] | None, key_id: str, at_ms: int) -> bytes | Reason:
    if keys is None:
        return Reason.UNKNOWN_SENDER
    k = keys.get(key_id)
    if k is None:
        return Reason.UNKNOWN_KEY
    if k.revoked:
        return Reason.REVOKED_KEY
    if not k.not_before_ms <= at_ms <= k.not_after_ms:
        return Reason.EXPIRED_KEY
    return k.public_key


class PeerKeys:
    """A KeyResolver over a manifests directory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = directory
        self._loaded_at = 0.0
        self._keys: dict[str, dict[str, CompiledKey]] = {}
        self._load()

    def _load(self) -> None:
        self._loaded_at = time.monotonic()
        self._keys = read_manifest_keys(self._dir)

    def resolve(self, sender: str, key_id: str, at_ms: int) -> bytes | Reason:
        keys = self._keys.get(sender)
        if (keys is None or key_id not in keys) and time.monotonic() - self._loaded_at > 1.0:
            self._load()
            keys = self._keys.get(sender)
        return resolve_compiled_key(keys, key_id, at_ms)
