"""The agent's client (the TS SDK's packages/sdk/src/client.ts, in Python): connect with the
credential file, send (returns the verifier's ack or raises a typed error), an inbox of
end-to-end verified messages, topics, request/reply with causation and depth tokens, retries
that resend the same envelope, delivery confirmations and refusals."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from . import envelope as env
from .constants import (
    DEPTH_HEADER,
    DEPTH_TOKEN_HEADER,
    DEPTH_TOKEN_METADATA,
    MAX_CONFIRM_IDS,
    MAX_REFUSAL_DETAIL_BYTES,
    MSG_ID_BYTES,
    REFUSAL_DETAIL_HEADER,
    REFUSAL_HEADER,
    REPLY_ROUTE_HEADER,
    SUBJECT_DELIVERED_PREFIX,
    SUBJECT_IN_PREFIX,
    SUBJECT_INBOX_PREFIX,
    SUBJECT_TO_PREFIX,
    SUBJECT_TOPIC_PREFIX,
    WORKER_ANSWER_TOKEN,
    WORKER_HEADER,
    WORKER_ID_RE,
)
from .contracts import Contract, ContractIssue, Registry, check_metadata
from .errors import (
    ContractError,
    CredentialError,
    EnvelopeError,
    PermissionError,
    RefusedError,
    RejectedError,
    TimeoutError,
    UndeliveredError,
    AgentClosedError,
)
from .identity import AgentIdentity, load_credentials
from .manifests import PeerKeys
from .reasons import Delivery, Reason, Verdict, reason_name
from .v1 import envelope_pb2

DEFAULT_SEND_TIMEOUT_S = 2.0
DEFAULT_SEND_RETRIES = 2
DEFAULT_REQUEST_TIMEOUT_S = 10.0
DEFAULT_DEDUP_WINDOW = 50_000
MEMORY_SERVICE = "memory"
TOOL_RESULT_TYPE = "tool.result"
_TRACEPARENT_RE = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_HELD_UNTIL_RE = re.compile(r"until (\S+)$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

log = logging.getLogger("agentbus")


@dataclass(frozen=True)
class InboundMessage:
    """A message delivered to this agent, verified end to end and checked against its contract."""

    msg_id: str
    sender: str
    recipient: str
    topic: str
    type: str
    payload: Any
    payload_bytes: bytes
    metadata: Mapping[str, str]
    depth: int
    """The chain depth the verifier assigned."""
    depth_token: str
    """The verifier's MAC of (msg_id, this agent or ``topic:<name>``, depth); a reply carries it."""
    causation_id: str
    traceparent: str
    sent_at: dt.datetime
    header: env.HeaderFields = field(repr=False)
    reply_route: str = field(default="", repr=False)
    """The verifier's route back to the worker that sent this message: a reply carries it, so the
    answer reaches that worker, not any worker of the sender ('' if none)."""


@dataclass(frozen=True)
class SendResult:
    msg_id: str
    depth: int
    duplicate: bool
    verifier_id: str
    attempts: int
    delivered: bool
    """The recipient's client confirmed it holds the message (False for topic publications)."""


class MessageQueue:
    """Messages for one consumer (the inbox, or a topic subscription), as an async iterator.
    Leaving an ``async for`` over it (``break``) stops it: later messages are not confirmed to
    their senders (they hear UndeliveredError instead of a delivery nobody saw)."""

    def __init__(self, on_stop: Callable[[], None] | None = None) -> None:
        self._items: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        self._done = False
        self._error: BaseException | None = None
        self._on_stop = on_stop

    @property
    def done(self) -> bool:
        return self._done

    def push(self, m: InboundMessage) -> None:
        if not self._done:
            self._items.put_nowait(m)

    def stop(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        self._items.put_nowait(None)
        cb, self._on_stop = self._on_stop, None
        if cb is not None:
            cb()

    async def _iterate(self) -> AsyncIterator[InboundMessage]:
        try:
            while True:
                m = await self._items.get()
                if m is None:
                    if self._error is not None:
                        raise self._error
                    return
                yield m
        finally:
            self.stop()

    def __aiter__(self) -> AsyncIterator[InboundMessage]:
        return self._iterate()

    async def get(self, timeout: float | None = None) -> InboundMessage:
        """The next message (TimeoutError after ``timeout`` seconds; StopAsyncIteration when stopped)."""
        try:
            m = await asyncio.wait_for(self._items.get(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no message within {timeout} s") from None
        if m is None:
            self._items.put_nowait(None)
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return m


class _Confirmer:
    """Delivery confirmations, batched per reply subject (16 bytes per msg_id), and refusals
    (PROTOCOL.md §11)."""

    def __init__(self, nc: NatsClient, agent_id: str) -> None:
        self._nc = nc
        self._suffix = f".{agent_id}"
        self._pending: dict[str, list[bytes]] = {}
        self._scheduled = False
        self.confirmed = 0
        self.refused = 0

    def _ours(self, reply: str, msg_id: bytes) -> bool:
        return bool(reply) and len(msg_id) == MSG_ID_BYTES and reply.startswith(SUBJECT_DELIVERED_PREFIX) and reply.endswith(self._suffix)

    def confirm(self, m: Msg, msg_id: bytes) -> None:
        if not self._ours(m.reply, msg_id):
            return
        self._pending.setdefault(m.reply, []).append(msg_id)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.flush()))

    async def refuse(self, m: Msg, msg_id: bytes, reason: int, detail: str) -> bool:
        if not self._ours(m.reply, msg_id) or self._nc.is_closed:
            return False
        d = _CONTROL_RE.sub(" ", detail)
        while len(d.encode("utf-8")) > MAX_REFUSAL_DETAIL_BYTES:
            d = d[:-1]
        headers = {REFUSAL_HEADER: str(int(reason))}
        if d:
            headers[REFUSAL_DETAIL_HEADER] = d
        await self._nc.publish(m.reply, msg_id, headers=headers)
        self.refused += 1
        return True

    async def flush(self) -> None:
        self._scheduled = False
        pending, self._pending = self._pending, {}
        if self._nc.is_closed:
            return
        for reply, ids in pending.items():
            for start in range(0, len(ids), MAX_CONFIRM_IDS):
                chunk = ids[start : start + MAX_CONFIRM_IDS]
                await self._nc.publish(reply, b"".join(chunk))
                self.confirmed += len(chunk)


def _is_no_responders(e: BaseException) -> bool:
    return isinstance(e, nats.errors.NoRespondersError) or "no responders" in str(e).lower()


class AgentClient:
    """An agent's connection to the bus. Make one with :func:`connect_agent`."""

    def __init__(
        self,
        nc: NatsClient,
        identity: AgentIdentity,
        contracts: Registry,
        peer_keys: Callable[[str, str, int], bytes | Reason] | None,
        *,
        verify_end_to_end: bool,
        timeout: float,
        retries: int,
        errors: list[BaseException],
        worker: str,
    ) -> None:
        self.nc = nc
        self._identity = identity
        self.agent_id = identity.agent_id
        self.worker_id = worker
        """This connection's worker id: its acks and the answers to its messages come to it alone."""
        self._contracts = contracts
        self._peer_keys = peer_keys
        self._e2e = verify_end_to_end
        self._timeout = timeout
        self._retries = retries
        self._nats_errors = errors
        self._inbox = MessageQueue(self._release_inbox)
        self._inbox_sub: Subscription | None = None
        self._answer_sub: Subscription | None = None
        self._joining = False
        self._topic_count: dict[str, int] = {}
        self._confirmer = _Confirmer(nc, self.agent_id)
        self._topic_subs: set[Subscription] = set()
        self._seen: OrderedDict[str, bool] = OrderedDict()
        self._waiters: dict[str, asyncio.Future[InboundMessage]] = {}
        self._streams: dict[str, Callable[[InboundMessage], None]] = {}
        self._creds_task: asyncio.Task[None] | None = None
        self._owns_identity = False
        # sends waiting for the verifier's answer: close() lets them finish (one send budget)
        self._inflight: set[asyncio.Task[SendResult]] = set()
        self._closed = False
        self.stats = {"sent": 0, "received": 0, "duplicates_dropped": 0, "refused": 0, "not_delivered": 0, "unclaimed_answers": 0}

    @property
    def identity(self) -> AgentIdentity:
        """The agent's identity (reloaded when its credential file changes: key rotation)."""
        return self._identity

    @property
    def contracts(self) -> Registry:
        return self._contracts

    async def _subscribe_inbox(self) -> None:
        async def cb(m: Msg) -> None:
            await self._on_message(m, self._inbox)

        # one NATS queue group (the agent id) across the agent's workers: each delivery reaches one
        self._inbox_sub = await self.nc.subscribe(f"{SUBJECT_TO_PREFIX}{self.agent_id}.>", queue=self.agent_id, cb=cb)

    async def _subscribe_answers(self) -> None:
        async def cb(m: Msg) -> None:
            await self._on_message(m, self._inbox)

        # answers to this worker's messages (the verifier's reply route)
        self._answer_sub = await self.nc.subscribe(f"{SUBJECT_INBOX_PREFIX}{self.agent_id}.{self.worker_id}.{WORKER_ANSWER_TOKEN}.>", cb=cb)

    def _release_inbox(self) -> None:
        """Nobody reads the inbox any more: unsubscribe, unless a request still waits for its answer."""
        if not self._inbox.done or self._waiters or self._streams or self._inbox_sub is None:
            return
        sub, self._inbox_sub = self._inbox_sub, None
        asyncio.ensure_future(sub.unsubscribe())

    def _watch_credentials(self, path: str) -> None:
        async def watch() -> None:
            last = os.stat(path).st_mtime_ns
            while True:
                await asyncio.sleep(0.5)
                try:
                    m = os.stat(path).st_mtime_ns
                except OSError:
                    continue
                if m == last:
                    continue
                last = m
                try:
                    nxt = load_credentials(path)
                except (CredentialError, OSError, ValueError):
                    continue  # a half-written or bad file: keep the current identity
                if nxt.agent_id != self.agent_id:
                    continue
                old, self._identity = self._identity, nxt
                old.destroy()

        self._creds_task = asyncio.ensure_future(watch())

    # -- receiving -------------------------------------------------------------------------

    async def _refuse(self, m: Msg, msg_id: bytes | None, sender: str, type: str, reason: int, detail: str) -> None:
        self.stats["refused"] += 1
        told = await self._confirmer.refuse(m, msg_id, reason, detail) if msg_id else False
        log.warning(
            "message refused: this client cannot verify or decode it (msg_id=%s sender=%s type=%s reason=%s detail=%s sender_told=%s)",
            msg_id.hex() if msg_id else None, sender, type, reason_name(reason), detail, told,
        )

    def _contract_for_inbound(self, type: str, causation: str) -> Contract | None:
        c = self._contracts.get(type)
        answer_waited = bool(causation) and (causation in self._waiters or causation in self._streams)
        if type == TOOL_RESULT_TYPE or type.startswith("memory."):
            # built in: answers to a request of this client's (and memory requests to the service)
            if type in ("memory.result", "memory.event", TOOL_RESULT_TYPE):
                return c if answer_waited else None
            return c if self.agent_id == MEMORY_SERVICE else None
        return c

    async def _on_message(self, m: Msg, queue: MessageQueue) -> None:
        def resolve(sender: str, key_id: str, at: int) -> bytes | Reason:
            assert self._peer_keys is not None
            return self._peer_keys(sender, key_id, at)

        try:
            opened = env.open_envelope(m.data, resolve, verify_signature=self._e2e)
        except env.Invalid as e:
            hint: env.HeaderFields | None = None
            try:
                hint = env.decode_header(env.parse_envelope(m.data).header_bytes)
            except env.Invalid:
                pass
            if e.reason in (Reason.UNKNOWN_KEY, Reason.UNKNOWN_SENDER):
                why = f"no public key of {hint.sender if hint else 'the sender'} in this client's manifests (peer_keys / manifests_dir)"
            else:
                why = e.detail or reason_name(e.reason)
            await self._refuse(m, hint.msg_id if hint else None, hint.sender if hint else "", hint.type if hint else "", e.reason, why)
            return
        h = opened.header
        msg_id = h.msg_id.hex()
        if msg_id in self._seen:
            # the verifier forwards a retried envelope again; deliver each msg_id once
            self.stats["duplicates_dropped"] += 1
            self._confirmer.confirm(m, h.msg_id)
            return
        causation = h.causation_id.hex()
        contract = self._contract_for_inbound(h.type, causation)
        if contract is None and causation and h.type in ("memory.result", "memory.event", TOOL_RESULT_TYPE):
            # an answer to a request of this client's that gave up waiting: it arrived, so it is
            # confirmed, not refused (nothing is wrong with it)
            self.stats["unclaimed_answers"] += 1
            self._confirmer.confirm(m, h.msg_id)
            log.warning("an answer arrived after its request stopped waiting: dropped (msg_id=%s sender=%s type=%s)", msg_id, h.sender, h.type)
            return
        if contract is None:
            await self._refuse(m, h.msg_id, h.sender, h.type, Reason.UNKNOWN_TYPE, f"{h.type} has no contract in {self.agent_id}'s registry")
            return
        if h.content_type != contract.content_type:
            await self._refuse(m, h.msg_id, h.sender, h.type, Reason.SCHEMA_INVALID, f"{h.type}: content type must be {contract.content_type}")
            return
        try:
            payload = contract.decode(opened.parts.payload)
        except ContractIssue as e:
            await self._refuse(m, h.msg_id, h.sender, h.type, e.reason, f"{h.type}: {e.detail}")
            return
        if queue.done and not (causation and (causation in self._waiters or causation in self._streams)):
            self.stats["not_delivered"] += 1
            return
        self._seen[msg_id] = True
        if len(self._seen) > DEFAULT_DEDUP_WINDOW:
            self._seen.popitem(last=False)
        headers = m.headers or {}
        depth_header = headers.get(DEPTH_HEADER)
        inbound = InboundMessage(
            msg_id=msg_id,
            sender=h.sender,
            recipient=h.recipient,
            topic=h.topic,
            type=h.type,
            payload=payload,
            payload_bytes=opened.parts.payload,
            metadata=h.metadata,
            depth=int(depth_header) if depth_header and depth_header.isdigit() else h.depth,
            depth_token=headers.get(DEPTH_TOKEN_HEADER, ""),
            causation_id=causation,
            traceparent=f"00-{h.trace_id.hex()}-{h.span_id.hex()}-01" if h.trace_id else "",
            sent_at=dt.datetime.fromtimestamp(h.sent_at_ms / 1000, dt.timezone.utc),
            header=h,
            reply_route=headers.get(REPLY_ROUTE_HEADER, ""),
        )
        self.stats["received"] += 1
        waiter = self._waiters.pop(causation, None) if causation else None
        if waiter is not None and not waiter.done():
            waiter.set_result(inbound)
        elif causation and causation in self._streams:
            self._streams[causation](inbound)
        else:
            queue.push(inbound)
        self._confirmer.confirm(m, h.msg_id)

    def inbox(self) -> MessageQueue:
        """Verified messages addressed to this agent: ``async for msg in agent.inbox()``.
        Leaving the loop stops the inbox."""
        if self._inbox_sub is None and not self._inbox.done and not self._joining:
            # connected with inbox=False: one of the agent's workers from now on
            self._joining = True

            async def join() -> None:
                try:
                    await self._subscribe_inbox()
                finally:
                    self._joining = False

            asyncio.ensure_future(join())
        return self._inbox

    async def subscribe(self, topic: str, *, every_worker: bool = False) -> MessageQueue:
        """Verified messages on a topic; PermissionError when NATS refuses the subscription (the
        manifest does not list the topic under topics.subscribe). One worker of this agent gets
        each publication (a queue group; the k-th open subscription of a topic in one client is a
        group of its own); ``every_worker=True``: every worker gets every publication."""
        subject = f"{SUBJECT_TOPIC_PREFIX}{topic}.>"
        holder: list[Subscription] = []
        k = self._topic_count.get(topic, 0)
        self._topic_count[topic] = k + 1
        counted = [True]

        def uncount() -> None:
            if counted[0]:
                counted[0] = False
                n = self._topic_count.get(topic, 1) - 1
                if n > 0:
                    self._topic_count[topic] = n
                else:
                    self._topic_count.pop(topic, None)

        queue = "" if every_worker else (self.agent_id if k == 0 else f"{self.agent_id}-{k}")

        def on_stop() -> None:
            uncount()
            for s in holder:
                self._topic_subs.discard(s)
                asyncio.ensure_future(s.unsubscribe())

        q = MessageQueue(on_stop)
        before = len(self._nats_errors)

        async def cb(m: Msg) -> None:
            await self._on_message(m, q)

        sub = await self.nc.subscribe(subject, queue=queue, cb=cb)
        holder.append(sub)
        self._topic_subs.add(sub)
        # the server answers the SUB before this PING's PONG: a refusal has arrived by now (a
        # second round trip gives the client's error callback time to have run)
        await self.nc.flush()
        await asyncio.sleep(0)
        if len(self._nats_errors) == before:
            await self.nc.flush()
        for e in self._nats_errors[before:]:
            text = str(e).lower()
            if "permissions violation" in text and subject.lower() in text:
                self._topic_subs.discard(sub)
                uncount()
                err = PermissionError(topic, subject)
                q.stop(err)
                raise err
        return q

    # -- sending ---------------------------------------------------------------------------

    def _trace(self, traceparent: str | None, causation: InboundMessage | None) -> tuple[bytes, bytes]:
        span_id = os.urandom(8)
        tp = traceparent or (causation.traceparent if causation else "")
        m = _TRACEPARENT_RE.fullmatch(tp) if tp else None
        if m:
            return bytes.fromhex(m.group(1)), span_id
        return os.urandom(16), span_id

    def _seal(
        self,
        *,
        recipient: str = "",
        topic: str = "",
        type: str,
        payload: Any,
        metadata: Mapping[str, str] | None,
        causation: InboundMessage | None,
        traceparent: str | None,
    ) -> env.Sealed:
        contract = self._contracts.get(type)
        if contract is None:
            raise ContractError(Reason.UNKNOWN_TYPE, type, "no contract registered for this type")
        try:
            data = contract.encode(payload)
        except ContractIssue as e:
            raise ContractError(e.reason, type, e.detail) from None
        md = dict(metadata or {})
        if causation is not None:
            if not causation.depth_token:
                raise ContractError(
                    Reason.BAD_CAUSATION, type, "the message this one answers carries no depth token (was it delivered by the verifier?)"
                )
            md[DEPTH_TOKEN_METADATA] = causation.depth_token
        try:
            check_metadata(contract.allowed_metadata, md, type)
        except ContractIssue as e:
            raise ContractError(e.reason, type, e.detail) from None
        for k in contract.required_metadata:
            if not md.get(k):
                raise ContractError(Reason.METADATA_MISSING, type, f'metadata "{k}" is required for this type')
        if self._closed:
            raise AgentClosedError(f"{self.agent_id}'s client is closed: nothing was sent")
        key = self._identity.current_key()
        trace_id, span_id = self._trace(traceparent, causation)
        return env.seal_envelope(
            sender=self.agent_id,
            key_id=key.key_id,
            sign=key.sign,
            recipient=recipient,
            topic=topic,
            type=type,
            payload=data,
            content_type=contract.content_type,
            metadata=md,
            causation_id=bytes.fromhex(causation.msg_id) if causation else b"",
            depth=causation.depth + 1 if causation else 0,
            trace_id=trace_id,
            span_id=span_id,
        )

    async def send(
        self,
        to: str,
        type: str,
        payload: Any,
        *,
        metadata: Mapping[str, str] | None = None,
        causation: InboundMessage | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        traceparent: str | None = None,
        approval_wait: float | None = None,
    ) -> SendResult:
        """Send a typed message to an agent: the verifier's ack, or RejectedError(reason),
        RefusedError, UndeliveredError, TimeoutError; ContractError before anything is signed."""
        sealed = self._seal(recipient=to, type=type, payload=payload, metadata=metadata, causation=causation, traceparent=traceparent)
        return await self.send_raw(
            sealed.data,
            sealed.header.msg_id.hex(),
            timeout=timeout,
            retries=retries,
            recipient=to,
            approval_wait=approval_wait,
            route=causation.reply_route if causation else "",
        )

    async def publish(
        self,
        topic: str,
        type: str,
        payload: Any,
        *,
        metadata: Mapping[str, str] | None = None,
        causation: InboundMessage | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        traceparent: str | None = None,
    ) -> SendResult:
        """Publish a typed message on a topic (delivered to the topic's subscribers)."""
        sealed = self._seal(topic=topic, type=type, payload=payload, metadata=metadata, causation=causation, traceparent=traceparent)
        return await self.send_raw(sealed.data, sealed.header.msg_id.hex(), timeout=timeout, retries=retries)

    async def reply(self, to: InboundMessage, type: str, payload: Any, *, metadata: Mapping[str, str] | None = None, timeout: float | None = None) -> SendResult:
        """Answer a received message: to its sender, with causation, its depth token, depth + 1 and its trace."""
        return await self.send(to.sender, type, payload, metadata=metadata, causation=to, timeout=timeout)

    async def send_raw(
        self,
        data: bytes,
        msg_id: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        recipient: str = "",
        approval_wait: float | None = None,
        route: str = "",
    ) -> SendResult:
        """Send sealed envelope bytes. Retries resend exactly these bytes, so the verifier sees a
        duplicate, never a second message. ``route``: for an answer, the reply route of the
        message it answers (InboundMessage.reply_route)."""
        if self._closed:
            raise AgentClosedError(f"{self.agent_id}'s client is closed: {msg_id} was not sent")
        task = asyncio.ensure_future(
            self._send_raw(data, msg_id, timeout=timeout, retries=retries, recipient=recipient, approval_wait=approval_wait, route=route)
        )
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await task

    async def _send_raw(
        self,
        data: bytes,
        msg_id: str,
        *,
        timeout: float | None,
        retries: int | None,
        recipient: str,
        approval_wait: float | None,
        route: str,
    ) -> SendResult:
        headers = {WORKER_HEADER: self.worker_id}
        if route:
            headers[REPLY_ROUTE_HEADER] = route
        t = self._timeout if timeout is None else timeout
        n_retries = self._retries if retries is None else retries
        deadline = time.monotonic() + t * (n_retries + 1)
        last_err: BaseException | None = None
        attempts = 0
        timeouts = 0
        backoff = 0.05
        held = 0.0  # > 0: a tool call held for approval, waiting until then (monotonic)
        subject = f"{SUBJECT_IN_PREFIX}{self.agent_id}"
        while timeouts <= n_retries and (time.monotonic() < deadline or held > time.monotonic()):
            attempts += 1
            wait = held - time.monotonic() if held else min(t, deadline - time.monotonic())
            try:
                reply = await self.nc.request(subject, data, timeout=max(0.05, wait), headers=headers)
            except (nats.errors.TimeoutError, asyncio.TimeoutError) as e:
                last_err = e
                timeouts += 1
                continue
            except nats.errors.Error as e:
                if not _is_no_responders(e):
                    raise
                last_err = e
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 0.5)
                continue
            try:
                ack = envelope_pb2.Ack.FromString(reply.data)
            except Exception:
                raise EnvelopeError(Reason.MALFORMED, "the verifier answered with an undecodable ack") from None
            verdict = int(ack.verdict)
            delivery = int(ack.delivery)
            if verdict in (Verdict.ACCEPTED, Verdict.DUPLICATE):
                if delivery == Delivery.HELD:
                    # a tool call its policy holds for approval: the same bytes again, answered once
                    # an approver decided or the hold expired (its end is in the detail)
                    m = _HELD_UNTIL_RE.search(ack.detail)
                    until: float | None = None
                    if m:
                        try:
                            until = _iso_to_epoch(m.group(1))
                        except ValueError:
                            until = None
                    wait_s = (until + 5 - time.time()) if until is not None else 125.0
                    if approval_wait is not None:
                        wait_s = min(wait_s, approval_wait)
                    held = time.monotonic() + wait_s
                    last_err = TimeoutError(f"{msg_id} is held for approval and no approver decided in time")
                    continue
                if delivery == Delivery.DENIED:
                    self.stats["sent"] += 1
                    raise RejectedError(ack.reason, msg_id, ack.detail)
                if delivery == Delivery.REFUSED:
                    self.stats["sent"] += 1
                    raise RefusedError(ack.reason, msg_id, recipient, ack.detail)
                if delivery == Delivery.UNCONFIRMED:
                    # accepted and audited, but the recipient did not confirm: resend the same bytes
                    last_err = UndeliveredError(
                        msg_id,
                        f"{msg_id} was accepted but its recipient did not confirm delivery ({attempts} attempts): is the recipient connected?",
                    )
                    timeouts += 1
                    continue
                self.stats["sent"] += 1
                return SendResult(
                    msg_id=msg_id,
                    depth=ack.depth,
                    duplicate=verdict == Verdict.DUPLICATE,
                    verifier_id=ack.verifier_id,
                    attempts=attempts,
                    delivered=delivery == Delivery.CONFIRMED,
                )
            self.stats["sent"] += 1
            raise RejectedError(ack.reason, msg_id, ack.detail)
        if isinstance(last_err, UndeliveredError):
            raise last_err
        what = str(last_err) if last_err and str(last_err) else "timeout"
        if isinstance(last_err, (nats.errors.TimeoutError, asyncio.TimeoutError)):
            what = "timeout"
        raise TimeoutError(f"no answer from the verifier for {msg_id} after {attempts} attempts ({what})")

    async def request(
        self,
        to: str,
        type: str,
        payload: Any,
        *,
        metadata: Mapping[str, str] | None = None,
        causation: InboundMessage | None = None,
        timeout: float = DEFAULT_REQUEST_TIMEOUT_S,
        retries: int | None = None,
        traceparent: str | None = None,
        approval_wait: float | None = None,
    ) -> InboundMessage:
        """Send and wait for the message that answers it (its causation_id is our msg_id)."""
        sealed = self._seal(recipient=to, type=type, payload=payload, metadata=metadata, causation=causation, traceparent=traceparent)
        msg_id = sealed.header.msg_id.hex()
        # the answer arrives on this worker's answer subscription (the verifier's reply route,
        # PROTOCOL.md §11.1), also after the inbox loop ended or with inbox=False
        fut: asyncio.Future[InboundMessage] = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = fut
        started = time.monotonic()
        try:
            await self.send_raw(
                sealed.data,
                msg_id,
                timeout=None,
                retries=retries,
                recipient=to,
                approval_wait=approval_wait,
                route=causation.reply_route if causation else "",
            )
            left = max(0.0, timeout - (time.monotonic() - started))
            try:
                return await asyncio.wait_for(asyncio.shield(fut), left)
            except asyncio.TimeoutError:
                raise TimeoutError(f"no reply to {msg_id} within {int(timeout * 1000)} ms") from None
        finally:
            self._waiters.pop(msg_id, None)
            self._release_inbox()

    def on_replies(self, msg_id: str, fn: Callable[[InboundMessage], None]) -> Callable[[], None]:
        """Route every later message caused by ``msg_id`` to ``fn`` instead of the inbox (memory watches)."""
        self._streams[msg_id] = fn

        def off() -> None:
            self._streams.pop(msg_id, None)
            self._release_inbox()

        return off

    async def call_tool(self, server: str, tool: str, args: Mapping[str, Any] | None = None, *, timeout: float = 30.0, approval_wait: float | None = None) -> dict[str, Any]:
        """Call ``tool`` on the tool server ``server``: its result (MCP CallToolResult); RejectedError
        when the verifier refuses the call, ToolError when the result has ``isError: true``."""
        from .tools import call_tool

        return await call_tool(self, server, tool, dict(args or {}), timeout=timeout, approval_wait=approval_wait)

    def memory(self, ns: str | None = None, *, timeout: float = 10.0, schema: Mapping[str, Any] | None = None) -> Any:
        """Memory namespace ``ns`` of the memory service (default: this agent's own, ``agent/<self>``)."""
        from .memory import Memory

        return Memory(self, ns or f"agent/{self.agent_id}", timeout=timeout, schema=schema)

    async def close(self) -> None:
        if self._creds_task is not None:
            self._creds_task.cancel()
        self._inbox.stop()
        for s in [*self._topic_subs, *([self._answer_sub] if self._answer_sub else [])]:
            try:
                await s.unsubscribe()
            except Exception:
                pass
        await self._confirmer.flush()
        # sends in flight (a reply from an inbox loop while the program closes) get their answers
        # first, within one send budget; sends after this are refused with AgentClosedError
        self._closed = True
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=self._timeout * (self._retries + 1))
        try:
            await self.nc.drain()
        except Exception:
            pass
        if self._owns_identity:
            self._identity.destroy()

    async def __aenter__(self) -> AgentClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _iso_to_epoch(s: str) -> float:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


async def connect_agent(
    servers: str | list[str],
    credentials: str | os.PathLike[str] | AgentIdentity,
    contracts: str | os.PathLike[str] | Registry,
    *,
    manifests_dir: str | os.PathLike[str] | None = None,
    peer_keys: Callable[[str, str, int], bytes | Reason] | None = None,
    verify_end_to_end: bool = True,
    timeout: float = DEFAULT_SEND_TIMEOUT_S,
    retries: int = DEFAULT_SEND_RETRIES,
    worker: str | None = None,
    inbox: bool = True,
    **connect_options: Any,
) -> AgentClient:
    """Connect an agent to the bus.

    ``credentials``: the credential file (mode 0600) or a loaded identity. ``contracts``: the
    file ``agentbus contracts export`` wrote, or a Registry. ``manifests_dir`` (or ``peer_keys``):
    where senders' public keys come from for the end-to-end check. Extra keyword arguments go
    to ``nats.connect`` (tls, name, ...). ``worker``: this connection's worker id (one NATS
    token, ``[A-Za-z0-9_-]{1,32}``, unique among the agent's connections; default random): the
    agent may run several connections, each delivery reaches one, each answer the one that asked.
    ``inbox=False``: this connection takes no share of the agent's messages until it calls
    ``inbox()`` (a script that only sends with the agent's credential while the agent runs).
    """
    if worker is not None and WORKER_ID_RE.fullmatch(worker) is None:
        raise TypeError(f'worker: "{worker}" is not a worker id ([A-Za-z0-9_-]{{1,32}})')
    worker_id = worker or os.urandom(8).hex()
    creds_path = None if isinstance(credentials, AgentIdentity) else os.fspath(credentials)
    identity = credentials if isinstance(credentials, AgentIdentity) else load_credentials(credentials)
    registry = contracts if isinstance(contracts, Registry) else Registry.load(contracts)
    keys = peer_keys or (PeerKeys(manifests_dir).resolve if manifests_dir is not None else None)
    if verify_end_to_end and keys is None:
        raise TypeError("end-to-end verification needs peer_keys or manifests_dir (or set verify_end_to_end=False)")
    errors: list[BaseException] = []

    async def error_cb(e: Exception) -> None:
        errors.append(e)
        del errors[:-64]

    server_list = [servers] if isinstance(servers, str) else list(servers)
    opts: dict[str, Any] = {
        "servers": server_list,
        "name": f"agentbus-agent-{identity.agent_id}/{worker_id}",
        "nkeys_seed_str": identity.nats_seed(),
        # acks come back to this connection under its worker id (answers too: the verifier's route)
        "inbox_prefix": f"{SUBJECT_INBOX_PREFIX}{identity.agent_id}.{worker_id}",
        "error_cb": error_cb,
        "connect_timeout": 5,
        # the first connect fails at once (a refused login is an answer, not an outage: nats.js
        # behaves so); once connected, the client reconnects for as long as it takes
        "allow_reconnect": False,
    }
    opts.update(connect_options)
    try:
        nc = await nats.connect(**opts)
    except Exception as e:
        auth = isinstance(e, nats.errors.AuthorizationError) or any(
            isinstance(x, nats.errors.AuthorizationError) or "authorization violation" in str(x).lower() for x in [e, *errors]
        )
        if creds_path is not None:
            identity.destroy()
        if auth:
            raise CredentialError(
                f'the bus at {",".join(server_list)} refused agent "{identity.agent_id}" (NATS user {identity.nats_public_key}): '
                f"no manifest of the bus's has that nats_user — is {identity.agent_id}.yaml in the manifests directory "
                "`agentbus dev` watches (its banner names it), with the nats_user of this credential file? "
                "A manifest added a moment ago is picked up within a second.",
                creds_path,
            ) from e
        raise
    if "allow_reconnect" not in connect_options:
        nc.options["allow_reconnect"] = True
        nc.options["max_reconnect_attempts"] = connect_options.get("max_reconnect_attempts", -1)
    client = AgentClient(
        nc, identity, registry, keys, verify_end_to_end=verify_end_to_end, timeout=timeout, retries=retries, errors=errors, worker=worker_id
    )
    client._owns_identity = creds_path is not None
    if inbox:
        await client._subscribe_inbox()
    await client._subscribe_answers()
    await nc.flush()
    if creds_path is not None:
        client._watch_credentials(creds_path)
    return client
