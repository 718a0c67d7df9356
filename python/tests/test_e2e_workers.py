"""Workers (PROTOCOL.md §11.1, docs/design.md §18) end to end: an agent run as two connections of
one credential. Each delivery reaches one worker; each answer reaches the worker that asked — a
Python replier copies the route back (pybob answering two pyalice workers), and so does the TS
memory service (memory results to two Python workers); nothing is refused or left unclaimed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agentbus import AgentClient, connect_agent

from .bus import Bus

pytestmark = pytest.mark.e2e


async def agent(bus: Bus, name: str, **kw: Any) -> AgentClient:
    return await connect_agent(bus.url, bus.creds(name), bus.proj / "contracts.json", manifests_dir=bus.manifests, **kw)


@pytest.fixture
async def pybobs(bus: Bus) -> AsyncIterator[tuple[list[AgentClient], list[list[str]]]]:
    """Two workers of pybob, each answering questions and recording the notes it got."""
    workers = [await agent(bus, "pybob"), await agent(bus, "pybob")]
    notes: list[list[str]] = [[], []]

    async def serve(i: int, b: AgentClient) -> None:
        async for msg in b.inbox():
            if msg.type == "question.ask":
                await b.reply(msg, "question.answer", {"answer": f"worker {i}: {msg.payload['question']}"})
            elif msg.type == "note.send":
                notes[i].append(msg.msg_id)

    tasks = [asyncio.ensure_future(serve(i, b)) for i, b in enumerate(workers)]
    yield workers, notes
    for t in tasks:
        t.cancel()
    for b in workers:
        await b.close()


async def test_each_delivery_reaches_one_worker(bus: Bus, pybobs: tuple[list[AgentClient], list[list[str]]]) -> None:
    workers, notes = pybobs
    assert workers[0].worker_id != workers[1].worker_id
    pyalice = await agent(bus, "pyalice")
    try:
        sent = [r.msg_id for r in await asyncio.gather(*(pyalice.send("pybob", "note.send", {"text": f"n{i}"}) for i in range(40)))]
        for _ in range(100):
            if len(notes[0]) + len(notes[1]) >= 40:
                break
            await asyncio.sleep(0.05)
        assert sorted(notes[0] + notes[1]) == sorted(sent), "every note once, across the two workers"
        assert notes[0] and notes[1], f"both workers took a share: {len(notes[0])}, {len(notes[1])}"
    finally:
        await pyalice.close()


async def test_answers_reach_the_worker_that_asked(bus: Bus, pybobs: tuple[list[AgentClient], list[list[str]]]) -> None:
    alices = [await agent(bus, "pyalice"), await agent(bus, "pyalice")]
    try:

        async def ask(i: int, a: AgentClient) -> list[str]:
            out: list[str] = []
            for j in range(8):
                q = f"a{i}-{j}"
                answer = await a.request("pybob", "question.ask", {"question": q}, timeout=10)
                assert answer.payload["answer"].endswith(f": {q}")
                # the TS memory service answers this worker too
                mem = a.memory()
                rev = await mem.put(f"w/{q}", {"by": i})
                got = await mem.get(f"w/{q}")
                assert got is not None and got.value == {"by": i} and got.revision == rev
                out.append(q)
            return out

        done = await asyncio.gather(*(ask(i, a) for i, a in enumerate(alices)))
        assert [len(d) for d in done] == [8, 8]
        for a in alices:
            assert a.stats["refused"] == 0 and a.stats["unclaimed_answers"] == 0, a.stats
            assert a.stats["received"] == 8 * 3, a.stats  # its own answers: one reply and two memory results per round
    finally:
        for a in alices:
            await a.close()
