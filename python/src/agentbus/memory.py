"""Memory on the bus (PROTOCOL.md §15.5): ``agent.memory(ns)`` reads and writes a namespace of the
memory service (the ``memory`` agent) with signed requests; nothing touches JetStream KV
directly. A refused operation is a MemoryError with the service's code, or the verifier's
RejectedError when the verifier refuses the request before it reaches the service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema
from jsonschema import Draft202012Validator

from .errors import MemoryError

if TYPE_CHECKING:
    from .client import AgentClient, InboundMessage

MEMORY_SERVICE = "memory"


@dataclass(frozen=True)
class MemoryEntry:
    key: str
    value: Any
    revision: int


@dataclass(frozen=True)
class MemoryPage:
    keys: list[str]
    cursor: str | None
    """Pass to list() for the next page; None on the last page."""


class MemoryWatch:
    """Changes (put, delete) in a namespace from now on: ``async for ev in watch``; ``close()`` ends it."""

    def __init__(self, mem: Memory) -> None:
        self._mem = mem
        self._queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()
        self._closed = False
        self.watch_id = ""
        self._off: Any = None

    def _push(self, m: InboundMessage) -> None:
        if self._closed or m.type != "memory.event":
            return
        ev: dict[str, Any] = m.payload
        if ev.get("op") == "put" and self._mem._validator is not None:
            issue = self._mem._issue(ev.get("value"))
            if issue:
                self._queue.put_nowait(MemoryError("invalid", "watch", self._mem.ns, ev.get("key"), f"the stored value does not match the namespace schema: {issue}"))
                self._closed = True
                return
        self._queue.put_nowait(ev)

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        try:
            while True:
                item = await self._queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            await self.close()

    async def close(self) -> None:
        if self._closed and self._off is None:
            return
        self._closed = True
        self._queue.put_nowait(None)
        try:
            if self.watch_id:
                await self._mem._client.request(MEMORY_SERVICE, "memory.unwatch", {"watch": self.watch_id}, timeout=self._mem.timeout)
        except Exception:
            pass  # the service ends it anyway once a delivery fails
        finally:
            off, self._off = self._off, None
            if off is not None:
                off()


class Memory:
    """One namespace of the memory service."""

    def __init__(self, client: AgentClient, ns: str, *, timeout: float = 10.0, schema: Mapping[str, Any] | None = None) -> None:
        self._client = client
        self.ns = ns
        self.timeout = timeout
        self._validator = Draft202012Validator(schema) if schema is not None else None

    def _issue(self, value: Any) -> str | None:
        if self._validator is None:
            return None
        err = jsonschema.exceptions.best_match(self._validator.iter_errors(value))
        if err is None:
            return None
        path = "$" + "".join(f".{p}" for p in err.absolute_path)
        return f"{path}: {err.message}"

    async def _call(self, type: str, payload: dict[str, Any]) -> dict[str, Any]:
        answer = await self._client.request(MEMORY_SERVICE, type, {"ns": self.ns, **payload}, timeout=self.timeout)
        if answer.type != "memory.result":
            raise MemoryError("invalid", type[7:], self.ns, payload.get("key"), f"the memory service answered with {answer.type}")
        result: dict[str, Any] = answer.payload
        return result

    def _fail(self, r: Mapping[str, Any], key: str | None = None) -> MemoryError:
        err = r.get("error") or {}
        return MemoryError(err.get("code", "invalid"), str(r.get("op", "")), self.ns, key, err.get("detail", "refused"))

    async def get(self, key: str) -> MemoryEntry | None:
        """The value and its revision; None when the key does not exist."""
        r = await self._call("memory.get", {"key": key})
        if not r["ok"]:
            if (r.get("error") or {}).get("code") == "not_found":
                return None
            raise self._fail(r, key)
        issue = self._issue(r.get("value"))
        if issue:
            raise MemoryError("invalid", "get", self.ns, key, f"the stored value does not match the namespace schema: {issue}")
        return MemoryEntry(key, r.get("value"), int(r.get("revision", 0)))

    async def put(self, key: str, value: Any, *, if_revision: int | None = None) -> int:
        """Write; the new revision. ``if_revision``: compare-and-set (0 = must not exist)."""
        issue = self._issue(value)
        if issue:
            raise MemoryError("invalid", "put", self.ns, key, f"the value does not match the namespace schema: {issue}")
        payload: dict[str, Any] = {"key": key, "value": value}
        if if_revision is not None:
            payload["if_revision"] = if_revision
        r = await self._call("memory.put", payload)
        if not r["ok"]:
            raise self._fail(r, key)
        return int(r.get("revision", 0))

    async def delete(self, key: str, *, if_revision: int | None = None) -> None:
        payload: dict[str, Any] = {"key": key}
        if if_revision is not None:
            payload["if_revision"] = if_revision
        r = await self._call("memory.delete", payload)
        if not r["ok"]:
            raise self._fail(r, key)

    async def list(self, *, prefix: str | None = None, cursor: str | None = None, limit: int | None = None) -> MemoryPage:
        payload: dict[str, Any] = {}
        if prefix is not None:
            payload["prefix"] = prefix
        if cursor is not None:
            payload["cursor"] = cursor
        if limit is not None:
            payload["limit"] = limit
        r = await self._call("memory.list", payload)
        if not r["ok"]:
            raise self._fail(r)
        return MemoryPage(list(r.get("keys") or []), r.get("cursor"))

    async def watch(self, *, prefix: str | None = None) -> MemoryWatch:
        w = MemoryWatch(self)
        payload: dict[str, Any] = {"ns": self.ns}
        if prefix is not None:
            payload["prefix"] = prefix
        answer = await self._client.request(MEMORY_SERVICE, "memory.watch", payload, timeout=self.timeout)
        r: dict[str, Any] = answer.payload
        if answer.type != "memory.result" or not r.get("ok"):
            raise self._fail(r)
        w.watch_id = answer.causation_id
        w._off = self._client.on_replies(w.watch_id, w._push)
        return w
