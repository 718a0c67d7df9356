"""End to end, the client paths test_e2e.py leaves out: topics both ways between Python and TS, a
tool call held for approval and decided by the TS `agentbus approve` CLI (approved, with the
args_sha256 of the canonical arguments; denied), and a key rotation the client picks up by
watching its credential file. The agents and their manifests are tests/bus.py's."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentbus import AgentClient, Reason, RejectedError, connect_agent

from .bus import Bus

pytestmark = pytest.mark.e2e


async def agent(bus: Bus, name: str) -> AgentClient:
    return await connect_agent(bus.url, bus.creds(name), bus.proj / "contracts.json", manifests_dir=bus.manifests)


async def in_thread(fn: Any) -> Any:
    """A blocking call (a CLI run) off the event loop, so the clients keep running meanwhile."""
    return await asyncio.get_running_loop().run_in_executor(None, fn)


@pytest.fixture
async def pyalice(bus: Bus) -> AsyncIterator[AgentClient]:
    a = await agent(bus, "pyalice")
    yield a
    await a.close()


# -- topics -----------------------------------------------------------------------------------

TS_SUBSCRIBER = """
import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const bob = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/bob.creds.json', manifestsDir: 'manifests', contracts });
const news = await bob.subscribe('news');
console.log('ready');
for await (const msg of news) {
  console.log(JSON.stringify({ sender: msg.sender, topic: msg.topic, type: msg.type, payload: msg.payload, msgId: msg.msgId }));
  break;
}
await bob.close();
"""

TS_PUBLISHER = """
import { connectAgent } from '@agentbus/sdk';
import { contracts } from './contracts.mjs';
const alice = await connectAgent({ servers: process.env.AGENTBUS_SERVERS, credentials: '.agentbus/creds/alice.creds.json', manifestsDir: 'manifests', contracts });
const r = await alice.publish('news', 'note.send', { text: 'news from typescript' });
console.log(JSON.stringify({ msgId: r.msgId }));
await alice.close();
"""


async def test_python_publishes_to_typescript_and_python_subscribers(bus: Bus, pyalice: AgentClient) -> None:
    bus.node_script("ts_news_bob.mjs", TS_SUBSCRIBER)
    bob = bus.spawn_node("ts_news_bob.mjs")
    assert bob.stdout is not None
    pybob = await agent(bus, "pybob")
    try:
        assert (await in_thread(bob.stdout.readline)).strip() == "ready"
        news = await pybob.subscribe("news")
        r = await pyalice.publish("news", "note.send", {"text": "news from python"})
        assert not r.delivered and not r.duplicate  # a publication has no single recipient to confirm it
        got = json.loads(await in_thread(bob.stdout.readline))
        assert got == {"sender": "pyalice", "topic": "news", "type": "note.send", "payload": {"text": "news from python"}, "msgId": r.msg_id}
        msg = await news.get(timeout=10)
        assert (msg.sender, msg.topic, msg.recipient, msg.type, msg.payload, msg.msg_id) == ("pyalice", "news", "", "note.send", {"text": "news from python"}, r.msg_id)
        assert msg.depth == 0 and msg.depth_token.startswith("0.")
        # pybob may subscribe to news but not publish there: the verifier refuses
        with pytest.raises(RejectedError) as e:
            await pybob.publish("news", "note.send", {"text": "not mine to say"})
        assert e.value.reason == Reason.DESTINATION_NOT_ALLOWED, str(e.value)
    finally:
        bob.terminate()
        await pybob.close()


async def test_typescript_publishes_to_a_python_subscriber(bus: Bus) -> None:
    pybob = await agent(bus, "pybob")
    try:
        news = await pybob.subscribe("news")
        bus.node_script("ts_news_alice.mjs", TS_PUBLISHER)
        r = await in_thread(lambda: bus.run_node("ts_news_alice.mjs"))
        assert r.returncode == 0, r.stderr
        sent = json.loads(r.stdout.strip().splitlines()[-1])
        msg = await news.get(timeout=10)
        assert (msg.sender, msg.topic, msg.type, msg.payload, msg.msg_id) == ("alice", "news", "note.send", {"text": "news from typescript"}, sent["msgId"])
        # leaving the subscription stops it
        news.stop()
        assert news.done
    finally:
        await pybob.close()


# -- approvals --------------------------------------------------------------------------------


async def held_call(bus: Bus, caller: str, tool: str, timeout: float = 30) -> dict[str, Any]:
    """The pending notice of ``caller``'s held call of ``tool``, as `agentbus approve --json` lists it."""
    t0 = time.monotonic()
    while True:
        r = await in_thread(lambda: bus.cli("approve", "--as", "pyops", "--nats", bus.url, "--wait-ms", "1500", "--json", check=False))
        assert r.returncode == 0, r.stderr
        for n in json.loads(r.stdout or "[]"):
            if n["caller"] == caller and n["tool"] == tool:
                notice: dict[str, Any] = n
                return notice
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"no held call of {caller}'s {tool} within {timeout}s: {r.stdout}")


async def test_tool_call_held_for_approval_approved_by_the_cli(bus: Bus, pyalice: AgentClient) -> None:
    path = str(bus.files / "project" / "hello.txt")
    call = asyncio.ensure_future(pyalice.call_tool("fs", "get_file_info", {"path": path}, timeout=60))
    try:
        notice = await held_call(bus, "pyalice", "get_file_info")
        # the approver is shown the call's canonical arguments whole, and approves their digest
        assert notice["server"] == "fs" and notice["args"] == json.dumps({"path": path}, separators=(",", ":"))
        assert notice["args_sha256"] == hashlib.sha256(notice["args"].encode()).hexdigest()
        assert not call.done()  # held: the Python client waits, resending the same envelope
        r = await in_thread(lambda: bus.cli("approve", notice["msg_id"], "--as", "pyops", "--sha256", notice["args_sha256"], "--nats", bus.url, "--json"))
        decided = json.loads(r.stdout)
        assert decided["decision"] == "approved" and decided["applied"] is True
        result = await asyncio.wait_for(call, 30)
        assert "size" in result["content"][0]["text"]
    finally:
        call.cancel()
    # the approval is in the audit, its causation the held call (PROTOCOL.md §15.3)
    rows = bus.sql(
        f"SELECT sender, type, causation_id FROM agentbus.audit_events FINAL WHERE msg_id = '{decided['approval_msg_id']}'",
        until=lambda rs: len(rs) >= 1,
    )
    assert (rows[0]["sender"], rows[0]["type"], rows[0]["causation_id"]) == ("pyops", "approval.decision", notice["msg_id"])


async def test_tool_call_held_for_approval_denied_by_the_cli(bus: Bus, pyalice: AgentClient) -> None:
    path = str(bus.files / "project")
    call = asyncio.ensure_future(pyalice.call_tool("fs", "get_file_info", {"path": path}, timeout=60))
    try:
        notice = await held_call(bus, "pyalice", "get_file_info")
        r = await in_thread(lambda: bus.cli("approve", notice["msg_id"], "--deny", "--reason", "not today", "--as", "pyops", "--nats", bus.url, "--json"))
        decided = json.loads(r.stdout)
        with pytest.raises(RejectedError) as e:
            await asyncio.wait_for(call, 30)
        assert e.value.reason == Reason.APPROVAL_DENIED and e.value.msg_id == notice["msg_id"]
        assert e.value.detail == f"denied by pyops (approval {decided['approval_msg_id']}): not today"
    finally:
        call.cancel()


# -- key rotation -----------------------------------------------------------------------------


async def test_key_rotation_picked_up_from_the_credential_file(bus: Bus) -> None:
    rot = await agent(bus, "pyrot")
    pybob = await agent(bus, "pybob")
    try:
        old = rot.identity.current_key().key_id
        first = await rot.send("pybob", "note.send", {"text": "with the old key"})
        assert first.delivered
        await in_thread(lambda: bus.cli("keys", "rotate", "pyrot", "--grace-ms", "1500"))
        # the client watches its credential file: once the new key is valid it signs with it
        t0 = time.monotonic()
        while rot.identity.current_key().key_id == old:
            assert time.monotonic() - t0 < 15, "the client did not pick up the rotated key"
            await asyncio.sleep(0.2)
        new = rot.identity.current_key().key_id
        second = await rot.send("pybob", "note.send", {"text": "with the new key"})
        assert second.delivered  # accepted by the verifier and verified by pybob with the new key
        # the old key revoked (and dropped from the credential file): still sending, with the new one
        await in_thread(lambda: bus.cli("keys", "revoke", "pyrot", old, "--creds-dir", str(bus.proj / ".agentbus" / "creds")))
        t1 = time.monotonic()
        while [k.key_id for k in rot.identity.keys] != [new]:
            assert time.monotonic() - t1 < 15, "the client did not reload the credential file after the revocation"
            await asyncio.sleep(0.2)
        third = await rot.send("pybob", "note.send", {"text": "old key revoked"})
        assert third.delivered
        got = [await pybob.inbox().get(timeout=10) for _ in range(3)]
        assert [m.payload["text"] for m in got] == ["with the old key", "with the new key", "old key revoked"]
        assert [m.header.key_id for m in got] == [old, new, new]
    finally:
        await rot.close()
        await pybob.close()
