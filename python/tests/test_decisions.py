"""decisions.json (PROTOCOL.md §8, §14) as far as a client needs it: the checks a receiver or a
sender can make without the verifier's state — framing, header, sender, key resolution, size,
freshness, contract, metadata, signature, payload hash, schema — give, check by check (§8.2's
names), the verdict the verifier gave; every accepted envelope opens end to end under the manifests' keys
and passes its contract; every depth token the verifier attached verifies under the depth key.

Checks the client cannot judge (send rules, tool policy, guards, rate, causation, depth, replay,
the rejection budget, the reply subject) are checked to get past every client check placed
before them in §8.2's order."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agentbus import depth_token, ed25519
from agentbus.contracts import Contract, ContractIssue, Registry, check_metadata, metadata_bytes, parse_tool_type
from agentbus.envelope import Invalid, decode_header, parse_envelope, sha256, signing_input
from agentbus.identity import b64url_decode, parse_iso, to_ms
from agentbus.manifests import CompiledKey, resolve_compiled_key
from agentbus.reasons import Reason

from .conftest import REPO, load_vectors

D = load_vectors("decisions.json")
STEPS = [(s["name"], i, st) for s in D["sequences"] for i, st in enumerate(s["steps"])]


def _check_order() -> dict[str, int]:
    """§8.2's checks by name → position, from PROTOCOL.md's table (generated from the verifier's list)."""
    text = (REPO / "PROTOCOL.md").read_text(encoding="utf-8")
    table = text[text.index("<!-- checks:"):text.index("<!-- /checks -->")]
    names = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", table, re.M)
    assert len(names) == len(set(names)) >= 24, names
    return {n: i for i, n in enumerate(names)}


ORDER = _check_order()
# §8.2: the check of each reason
CHECK_OF = {
    "rejection_budget_exceeded": "rejection_budget", "bad_reply_subject": "reply_subject", "malformed": "framing",
    "sender_mismatch": "sender_match", "unknown_sender": "sender_known", "unknown_key": "key", "revoked_key": "key",
    "expired_key": "key", "payload_too_large": "size", "stale_timestamp": "freshness", "future_timestamp": "freshness",
    "unknown_recipient": "recipient", "destination_not_allowed": "recipient", "unknown_type": "contract",
    "type_not_allowed": "type_allowed", "tool_not_allowed": "type_allowed", "metadata_not_allowed": "metadata_keys",
    "metadata_missing": "metadata_required", "bad_signature": "signature", "payload_hash_mismatch": "payload_hash",
    "schema_invalid": "schema", "credential_detected": "content_guards", "invisible_text": "content_guards",
    "control_chars": "content_guards", "argument_refused": "arguments", "memory_not_allowed": "arguments",
    "rate_limited": "rate", "bad_causation": "causation", "depth_exceeded": "depth", "replay": "replay",
}
CLIENT_CHECKS = {"framing", "header", "sender_match", "sender_known", "key", "size", "freshness", "contract", "metadata_keys",
                 "metadata_required", "signature", "payload_hash", "schema"}
MANIFESTS = {m["agent"]: m for m in D["manifests"]}


def _keys(m: dict[str, Any]) -> dict[str, CompiledKey]:
    out = {}
    for k in m["keys"]:
        out[k["key_id"]] = CompiledKey(
            b64url_decode(k["public_key"]),
            to_ms(parse_iso(k["not_before"])) if "not_before" in k else -(2**62),
            to_ms(parse_iso(k["not_after"])) if "not_after" in k else 2**62,
            bool(k.get("revoked", False)),
        )
    return out


KEYS = {a: _keys(m) for a, m in MANIFESTS.items()}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """decisions.json's contracts, the built-in ones from ``agentbus contracts export`` (the CLI,
    as a Python agent gets them) and the pinned tools of decisions.json's manifests."""
    out = subprocess.run(
        ["node", str(REPO / "packages/server/dist/cli/index.js"), "contracts", "export", "--no-manifests",
         "--contracts", str(REPO / "packages/server/dist/examples/quickstart/contracts.mjs")],
        capture_output=True, text=True, check=True, timeout=120,
    )
    exported = json.loads(out.stdout)
    contracts = {t: c for t, c in exported["contracts"].items() if c["builtin"]}
    contracts.update(D["contracts"])
    for server, m in MANIFESTS.items():
        for t in (m.get("mcp") or {}).get("tools", []):
            contracts[f"tool.{server}.{t['name']}"] = {"content_type": "application/json", "json_schema": t["input_schema"]}
    return Registry(Contract.from_json(t, c) for t, c in contracts.items())


def client_checks(step: dict[str, Any], reg: Registry) -> tuple[str, str] | None:
    """The first client-side check of §8.2 that fails: (check name, reason name), or None."""
    now = step.get("now", D["now"])
    data = bytes.fromhex(step["envelope"])
    try:
        parts = parse_envelope(data)
    except Invalid:
        return "framing", "malformed"
    try:
        h = decode_header(parts.header_bytes)
    except Invalid:
        return "header", "malformed"
    if h.sender != step["subject_sender"]:
        return "sender_match", "sender_mismatch"
    m = MANIFESTS.get(h.sender)
    if m is None:
        return "sender_known", "unknown_sender"
    key = resolve_compiled_key(KEYS[h.sender], h.key_id, now)
    if isinstance(key, Reason):
        return "key", key.name.lower()
    if len(parts.payload) + metadata_bytes(h.metadata) > m["max_payload_bytes"]:
        return "size", "payload_too_large"
    if h.sent_at_ms < now - D["max_skew_ms"]:
        return "freshness", "stale_timestamp"
    if h.sent_at_ms > now + D["max_skew_ms"]:
        return "freshness", "future_timestamp"
    tool = parse_tool_type(h.type)
    contract = reg.get(h.type) if tool is None or h.type in reg else None
    if contract is None:
        return "contract", "unknown_type"
    try:
        check_metadata(contract.allowed_metadata, h.metadata, h.type)
    except ContractIssue:
        return "metadata_keys", "metadata_not_allowed"
    if any(not h.metadata.get(k) for k in contract.required_metadata):
        return "metadata_required", "metadata_missing"
    if not ed25519.verify(key, signing_input(parts.header_bytes), parts.signature):
        return "signature", "bad_signature"
    if sha256(parts.payload) != h.payload_sha256:
        return "payload_hash", "payload_hash_mismatch"
    if h.content_type != contract.content_type:
        return "schema", "schema_invalid"
    try:
        contract.decode(parts.payload)
    except ContractIssue:
        return "schema", "schema_invalid"
    return None


@pytest.mark.parametrize("name,i,step", STEPS, ids=[f"{n} [{i}]" for n, i, _ in STEPS])
def test_decision_step(name: str, i: int, step: dict[str, Any], registry: Registry) -> None:
    exp = step["expect"]
    got = client_checks(step, registry)
    if exp["verdict"] in ("accepted", "duplicate"):
        assert got is None, f"the verifier {exp['verdict']} it; the client check says {got}"
        # a receiver opens it end to end, and the verifier's depth token verifies
        h = decode_header(parse_envelope(bytes.fromhex(step["envelope"])).header_bytes)
        if exp.get("depth_token"):
            rcpt = h.recipient or f"topic:{h.topic}"
            assert depth_token.depth_of(bytes.fromhex(D["depth_key"]), h.msg_id, rcpt, exp["depth_token"]) == exp["depth"]
        return
    reason = exp["reason"]
    c = CHECK_OF[reason]
    if reason == "sender_mismatch":
        c = "partition" if exp["detail"] == "wrong partition" else "sender_match"
    if c in CLIENT_CHECKS:
        assert got is not None and got[1] == reason, f"expected {reason} (the {c} check), the client check says {got}"
    elif ORDER[c] >= ORDER["framing"]:
        assert got is None or ORDER[got[0]] > ORDER[c], f"expected {reason} (the {c} check), a client check before it failed: {got}"


def test_every_client_reason_is_exercised(registry: Registry) -> None:
    seen = {st["expect"]["reason"] for _, _, st in STEPS}
    assert {r for r, c in CHECK_OF.items() if c in CLIENT_CHECKS} <= seen
