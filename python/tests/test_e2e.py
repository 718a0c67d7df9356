"""End to end through a real nats-server with the TS verifier, auditor and memory service
(tests/bus.py): Python and TS agents both ways, memory, an MCP tool, delivery confirmation,
refusals, retries, and every rejection a client can provoke reaching Python as the right error
with its audit row."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentbus import (
    AgentClient,
    AgentClosedError,
    ContractError,
    PermissionError,
    Reason,
    RefusedError,
    Registry,
    RejectedError,
    UndeliveredError,
    connect_agent,
    seal_envelope,
)
from agentbus.contracts import encode_json
from agentbus.envelope import EnvelopeParts, decode_header, encode_envelope, parse_envelope

from .bus import Bus

pytestmark = pytest.mark.e2e

TS_BOB = """
import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const bob = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/bob.creds.json', manifestsDir: 'manifests', contracts });
console.log('ready');
for await (const msg of bob.inbox()) {
  if (msg.type === 'question.ask') await bob.reply(msg, 'question.answer', { answer: `ts bob got "${msg.payload.question}" from ${msg.sender} at depth ${msg.depth}` });
  if (msg.type === 'note.send') await bob.reply(msg, 'note.ack', { received: msg.msgId });
}
"""

TS_ALICE = """
import { connectAgent, RejectedError } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const alice = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/alice.creds.json', manifestsDir: 'manifests', contracts });
const answer = await alice.request('pybob', 'question.ask', { question: 'from typescript' }, { timeoutMs: 10000 });
console.log(JSON.stringify({ type: answer.type, sender: answer.sender, payload: answer.payload, depth: answer.depth, causation: answer.causationId }));
await alice.close();
"""


async def agent(bus: Bus, name: str, **kw: Any) -> AgentClient:
    return await connect_agent(bus.url, bus.creds(name), kw.pop("contracts", bus.proj / "contracts.json"), manifests_dir=bus.manifests, **kw)


@pytest.fixture
async def pyalice(bus: Bus) -> AsyncIterator[AgentClient]:
    a = await agent(bus, "pyalice")
    yield a
    await a.close()


@pytest.fixture
async def pybob(bus: Bus) -> AsyncIterator[AgentClient]:
    b = await agent(bus, "pybob")

    async def serve() -> None:
        async for msg in b.inbox():
            if msg.type == "question.ask":
                await b.reply(msg, "question.answer", {"answer": f"py bob got {msg.payload['question']!r} from {msg.sender} at depth {msg.depth}"})
            elif msg.type == "note.send":
                await b.reply(msg, "note.ack", {"received": msg.msg_id})

    task = asyncio.ensure_future(serve())
    yield b
    task.cancel()
    await b.close()


async def test_python_to_python_send_request_reply(pyalice: AgentClient, pybob: AgentClient) -> None:
    r = await pyalice.send("pybob", "note.send", {"text": "hello pybob"})
    assert r.delivered and not r.duplicate and len(r.msg_id) == 32 and r.attempts == 1
    ack = await pyalice.inbox().get(timeout=10)
    assert (ack.type, ack.sender, ack.payload, ack.causation_id, ack.depth) == ("note.ack", "pybob", {"received": r.msg_id}, r.msg_id, 1)
    assert ack.depth_token.startswith("1.")
    answer = await pyalice.request("pybob", "question.ask", {"question": "six times seven?"}, timeout=10)
    assert answer.payload == {"answer": "py bob got 'six times seven?' from pyalice at depth 0"}
    # the reply joined the request's trace
    assert answer.traceparent[3:35] == answer.header.trace_id.hex() and answer.header.trace_id


async def test_python_to_typescript_and_back(bus: Bus, pyalice: AgentClient) -> None:
    bus.node_script("ts_bob.mjs", TS_BOB)
    bob = bus.spawn_node("ts_bob.mjs")
    assert bob.stdout is not None
    assert (await asyncio.get_running_loop().run_in_executor(None, bob.stdout.readline)).strip() == "ready"
    try:
        answer = await pyalice.request("bob", "question.ask", {"question": "from python"}, timeout=10)
        assert answer.sender == "bob" and answer.type == "question.answer"
        assert answer.payload == {"answer": 'ts bob got "from python" from pyalice at depth 0'}
        assert answer.depth == 1 and answer.depth_token.startswith("1.")
        # a reply to TS bob's answer relays its depth token: depth 2 (pyalice may send bob note.send)
        r = await pyalice.send("bob", "note.send", {"text": "thanks"}, causation=answer)
        assert r.depth == 2 and r.delivered
        ack = await pyalice.inbox().get(timeout=10)
        assert ack.type == "note.ack" and ack.depth == 3
        # depth 4 > pyalice's max_depth 3: the verifier counts, not the sender
        with pytest.raises(RejectedError) as e:
            await pyalice.send("bob", "note.send", {"text": "too deep"}, causation=ack)
        assert e.value.reason == Reason.DEPTH_EXCEEDED
    finally:
        bob.terminate()


async def test_typescript_to_python(bus: Bus, pybob: AgentClient) -> None:
    bus.node_script("ts_alice.mjs", TS_ALICE)
    r = await asyncio.get_running_loop().run_in_executor(None, lambda: bus.run_node("ts_alice.mjs"))
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["type"] == "question.answer" and got["sender"] == "pybob" and got["depth"] == 1
    assert got["payload"] == {"answer": "py bob got 'from typescript' from alice at depth 0"}


async def test_memory_through_the_bus(pyalice: AgentClient) -> None:
    mem = pyalice.memory()
    assert mem.ns == "agent/pyalice"
    rev = await mem.put("plan", {"steps": ["a", "b"]})
    entry = await mem.get("plan")
    assert entry is not None and entry.value == {"steps": ["a", "b"]} and entry.revision == rev
    from agentbus import MemoryError

    with pytest.raises(MemoryError) as e:
        await mem.put("plan", {"steps": []}, if_revision=rev + 100)
    assert e.value.code == "conflict"
    assert "plan" in (await mem.list()).keys
    await mem.delete("plan")
    assert await mem.get("plan") is None
    team = pyalice.memory("team")
    await team.put("shared-note", "hi")
    assert (await team.get("shared-note")) is not None
    # another agent's namespace: the verifier refuses the request (its `arguments` check)
    with pytest.raises(RejectedError) as r:
        await pyalice.memory("agent/pybob").get("x")
    assert r.value.reason == Reason.MEMORY_NOT_ALLOWED
    # a schema of the namespace: checked before signing
    typed = pyalice.memory(schema={"type": "object", "required": ["n"]})
    with pytest.raises(MemoryError) as e2:
        await typed.put("k", {"m": 1})
    assert e2.value.code == "invalid"


async def test_memory_watch(pyalice: AgentClient) -> None:
    mem = pyalice.memory()
    w = await mem.watch(prefix="w/")
    await mem.put("w/1", 1)
    it = w.__aiter__()
    ev = await asyncio.wait_for(it.__anext__(), 10)
    assert (ev["op"], ev["key"], ev["value"]) == ("put", "w/1", 1)
    await w.close()


async def test_mcp_tool_through_the_bus(bus: Bus, pyalice: AgentClient) -> None:
    path = str(bus.files / "project" / "hello.txt")
    result = await pyalice.call_tool("fs", "read_text_file", {"path": path})
    assert result["content"][0]["text"] == "hello from the bus\n"
    # outside the policy's root: refused by the verifier before the server sees it
    with pytest.raises(RejectedError) as e:
        await pyalice.call_tool("fs", "read_text_file", {"path": str(bus.files / "secret.txt")})
    assert e.value.reason == Reason.ARGUMENT_REFUSED and "args.path" in e.value.detail
    with pytest.raises(RejectedError) as e2:
        await pyalice.call_tool("fs", "write_file", {"path": path, "content": "x"})
    assert e2.value.reason == Reason.TOOL_NOT_ALLOWED
    # the pinned inputSchema (in the contracts export) is checked before signing
    with pytest.raises(ContractError) as c:
        await pyalice.call_tool("fs", "read_text_file", {"nopath": 1})
    assert c.value.reason == Reason.SCHEMA_INVALID


async def test_contract_errors_before_signing(pyalice: AgentClient) -> None:
    with pytest.raises(ContractError) as e:
        await pyalice.send("pybob", "note.send", {"text": 5})
    assert e.value.reason == Reason.SCHEMA_INVALID and str(e.value).startswith("schema_invalid: note.send: ")
    with pytest.raises(ContractError) as e2:
        await pyalice.send("pybob", "no.such", {})
    assert str(e2.value) == "unknown_type: no.such: no contract registered for this type"
    with pytest.raises(ContractError) as e3:
        await pyalice.send("pybob", "note.send", {"text": "x"}, metadata={"ticket": "1"})
    assert e3.value.reason == Reason.METADATA_NOT_ALLOWED


async def test_retry_resends_the_same_envelope(pyalice: AgentClient, pybob: AgentClient) -> None:
    sealed = pyalice._seal(recipient="pybob", type="note.send", payload={"text": "once"}, metadata=None, causation=None, traceparent=None)
    first = await pyalice.send_raw(sealed.data, sealed.header.msg_id.hex(), recipient="pybob")
    again = await pyalice.send_raw(sealed.data, sealed.header.msg_id.hex(), recipient="pybob")
    assert not first.duplicate and again.duplicate and again.delivered
    assert pybob.stats["received"] == 1  # each msg_id once


async def test_close_lets_a_send_in_flight_finish(bus: Bus, pybob: AgentClient) -> None:
    a = await agent(bus, "pyalice")
    # close() while the send waits for the verifier's answer: the send still gets it
    pending = asyncio.ensure_future(a.send("pybob", "note.send", {"text": "closing"}))
    await asyncio.sleep(0)  # the request is on the wire
    await a.close()
    r = await pending
    assert r.delivered
    with pytest.raises(AgentClosedError, match="client is closed"):
        await a.send("pybob", "note.send", {"text": "late"})


async def test_undelivered_when_the_recipient_is_away(bus: Bus, pyalice: AgentClient) -> None:
    # pybob is not connected in this test
    with pytest.raises(UndeliveredError) as e:
        await pyalice.send("pybob", "note.send", {"text": "anyone?"}, retries=1)
    assert "did not confirm delivery" in str(e.value)


async def test_refused_by_a_recipient_that_cannot_decode(bus: Bus, pyalice: AgentClient) -> None:
    # pybob's registry lacks note.send: its client refuses, and pyalice hears why
    doc = json.loads((bus.proj / "contracts.json").read_text())
    del doc["contracts"]["note.send"]
    b = await agent(bus, "pybob", contracts=Registry.from_export(doc))
    try:
        with pytest.raises(RefusedError) as e:
            await pyalice.send("pybob", "note.send", {"text": "x"})
        assert e.value.reason == Reason.UNKNOWN_TYPE and e.value.recipient == "pybob"
        assert "note.send has no contract in pybob's registry" in e.value.detail
    finally:
        await b.close()


async def test_refused_when_the_sender_key_is_unknown(bus: Bus, pyalice: AgentClient, tmp_path: Any) -> None:
    # a receiver whose manifests lack pyalice: end-to-end verification fails, the message is refused
    b = await connect_agent(bus.url, bus.creds("pybob"), bus.proj / "contracts.json", manifests_dir=tmp_path)
    try:
        with pytest.raises(RefusedError) as e:
            await pyalice.send("pybob", "note.send", {"text": "x"})
        assert e.value.reason == Reason.UNKNOWN_SENDER
    finally:
        await b.close()


async def test_subscribe_refused_by_nats_permissions(pyalice: AgentClient) -> None:
    with pytest.raises(PermissionError) as e:
        await pyalice.subscribe("secrets")
    assert 'the agent\'s manifest must list "secrets" under topics.subscribe' in str(e.value)


async def test_rejections_reach_python_with_their_audit_rows(bus: Bus, pyalice: AgentClient, pybob: AgentClient) -> None:
    key = pyalice.identity.current_key()
    ct = "application/json"
    note = encode_json({"text": "hi"})

    def seal(**kw: Any) -> bytes:
        base: dict[str, Any] = {"sender": "pyalice", "key_id": key.key_id, "sign": key.sign, "recipient": "pybob", "type": "note.send", "payload": note, "content_type": ct}
        base.update(kw)
        return seal_envelope(**base).data

    def tamper(data: bytes, *, payload: bytes | None = None, flip_sig: bool = False) -> bytes:
        p = parse_envelope(data)
        sig = bytes([p.signature[0] ^ 1]) + p.signature[1:] if flip_sig else p.signature
        return encode_envelope(EnvelopeParts(p.header_bytes, payload if payload is not None else p.payload, sig))

    now = int(time.time() * 1000)
    replayed_id = os.urandom(16)
    cases: list[tuple[Reason, bytes]] = [
        (Reason.TYPE_NOT_ALLOWED, seal(type="note.ack", payload=encode_json({"received": "x"}))),
        (Reason.DESTINATION_NOT_ALLOWED, seal(recipient="alice")),
        (Reason.UNKNOWN_RECIPIENT, seal(recipient="nobody")),
        (Reason.UNKNOWN_TYPE, seal(type="no.such")),
        (Reason.SCHEMA_INVALID, seal(payload=encode_json({"text": 5}))),
        (Reason.PAYLOAD_TOO_LARGE, seal(payload=encode_json({"text": "x" * 70_000}))),
        (Reason.STALE_TIMESTAMP, seal(sent_at_ms=now - 120_000)),
        (Reason.FUTURE_TIMESTAMP, seal(sent_at_ms=now + 120_000)),
        (Reason.METADATA_NOT_ALLOWED, seal(metadata={"ticket": "1"})),
        (Reason.UNKNOWN_KEY, seal(key_id="knot-a-key")),
        (Reason.BAD_SIGNATURE, tamper(seal(), flip_sig=True)),
        (Reason.PAYLOAD_HASH_MISMATCH, tamper(seal(), payload=encode_json({"text": "ho"}))),
        (Reason.BAD_CAUSATION, seal(causation_id=os.urandom(16))),
        (Reason.CREDENTIAL_DETECTED, seal(payload=encode_json({"text": "token ghp_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"}))),
        (Reason.INVISIBLE_TEXT, seal(payload=encode_json({"text": "hi \u202etxet"}))),
        (Reason.CONTROL_CHARS, seal(payload=encode_json({"text": "bell \u0007"}))),
    ]
    rejected: dict[str, Reason] = {}
    for reason, data in cases:
        mid = decode_header(parse_envelope(data).header_bytes).msg_id.hex()
        with pytest.raises(RejectedError) as e:
            await pyalice.send_raw(data, mid, recipient="pybob")
        assert e.value.reason == reason, (reason.name, str(e.value))
        assert e.value.msg_id == mid and str(e.value).startswith(reason.name.lower())
        rejected[mid] = reason
    # replay: the same msg_id, another envelope
    first = seal(msg_id=replayed_id)
    await pyalice.send_raw(first, replayed_id.hex(), recipient="pybob")
    with pytest.raises(RejectedError) as rp:
        await pyalice.send_raw(seal(msg_id=replayed_id, payload=encode_json({"text": "other"})), replayed_id.hex(), recipient="pybob")
    assert rp.value.reason == Reason.REPLAY
    ids = ",".join(f"'{m}'" for m in rejected)
    rows = bus.sql(
        f"SELECT msg_id, verdict, reason, sender FROM agentbus.audit_events FINAL WHERE msg_id IN ({ids}) AND verdict = 'rejected'",
        until=lambda rs: len(rs) >= len(rejected),
    )
    got = {r["msg_id"]: r["reason"] for r in rows}
    assert got == {m: r.name.lower() for m, r in rejected.items()}
    assert all(r["sender"] == "pyalice" for r in rows)
    trail = bus.trail(replayed_id.hex(), want=2)
    assert sorted(r["verdict"] for r in trail if r["msg_id"] == replayed_id.hex()) == ["accepted", "rejected"]


async def test_init_python_example_runs_verbatim(bus: Bus, repo: Any) -> None:
    example = (bus.proj / "example.py").read_text()
    assert example == (repo / "packages/server/src/examples/quickstart/example.py").read_text()
    assert "```python\n" + example + "```" in (repo / "docs" / "python.md").read_text(), "docs/python.md shows another example than init writes"
    r = await asyncio.get_running_loop().run_in_executor(
        None, lambda: subprocess.run([sys.executable, "example.py"], cwd=bus.proj, capture_output=True, text=True, timeout=60, env=bus.env())
    )
    assert r.returncode == 0, r.stderr + r.stdout
    lines = r.stdout.strip().split("\n")
    assert len(lines) == 4, r.stdout
    assert re.fullmatch(r"alice sends bob a note: delivered and acknowledged, msg [0-9a-f]{32}", lines[0])
    assert lines[1] == 'alice asks bob a question: bob answered: you asked "what is six times seven?": 42'
    assert lines[2] == "alice forges an answer: rejected by the verifier: type_not_allowed (question.answer)"
    assert lines[3].startswith("alice sends a malformed note: refused before signing: schema_invalid (note.send: ")


async def test_langgraph_example(bus: Bus, repo: Any) -> None:
    """examples/langgraph_agents.py: two LangGraph graphs of plain functions (alice's and bob's)
    whose steps request, send, reply and read the inbox over the bus, and one step the verifier
    refuses (with its audit row). langgraph is in the test extra: a missing one fails here."""
    example = repo / "python" / "examples" / "langgraph_agents.py"
    assert "python/examples/langgraph_agents.py" in (repo / "docs" / "python.md").read_text()
    r = await asyncio.get_running_loop().run_in_executor(
        None, lambda: subprocess.run([sys.executable, str(example)], cwd=bus.proj, capture_output=True, text=True, timeout=90, env=bus.env())
    )
    assert r.returncode == 0, r.stderr + r.stdout
    lines = r.stdout.strip().split("\n")
    assert len(lines) == 4, r.stdout
    assert lines[0] == 'ask: bob answered "you asked "what is six times seven?": 42" at depth 1'
    m = re.fullmatch(r"thank: note ([0-9a-f]{32}) delivered at depth 2, bob acknowledged it at depth 3", lines[1])
    assert m, lines[1]
    f = re.fullmatch(r"forge: refused by the verifier: type_not_allowed \(question\.answer\), msg ([0-9a-f]{32})", lines[2])
    assert f, lines[2]
    assert lines[3] == "done: alice's graph ran ask, thank, forge (refused: type_not_allowed); bob's graph answered question.ask, note.send"
    # the audit has both sides: the note accepted, the forged answer rejected
    note = bus.trail(m.group(1))
    assert any(row["verdict"] == "accepted" and row["sender"] == "alice" for row in note)
    forged = bus.trail(f.group(1))
    assert [(row["verdict"], row["reason"]) for row in forged] == [("rejected", "type_not_allowed")]
