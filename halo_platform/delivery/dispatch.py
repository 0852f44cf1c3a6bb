"""Dispatching queued messages: claim a leased batch, settle what a dead sender left in flight,
expire what is past its time, draw a provider per message (a retry avoids the provider that
just failed), and send with bounded concurrency per provider (batch APIs where the provider
has one), within each provider's rate limit and never while it is paused (`throttle`).
Crash safety: each request's messages are marked in flight (committed) before it leaves, and
its answer is recorded as soon as it arrives, so a crash leaves at most one uncertain request
per sending slot, never a batch."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import queue
import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.core.write_lock import writing
from halo_platform.delivery.config import CHANNELS
from halo_platform.delivery.lifecycle import (
    Transition,
    attempt_row,
    expired,
    requeued,
    transition,
    uncertain_resolution,
)
from halo_platform.delivery.providers.base import (
    PERMANENT,
    RETRYABLE,
    THROTTLED,
    Outgoing,
    Provider,
    SendResult,
)
from halo_platform.delivery.queue import claim, mark_in_flight, persist, resolve_uncertain
from halo_platform.delivery.resources import ProvidersResource, provider_kinds
from halo_platform.delivery.routing import draw
from halo_platform.delivery.state import routing_now
from halo_platform.delivery.throttle import Tokens, pause

log = logging.getLogger("halo.delivery")


@dataclass
class DispatchStats:
    claimed: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_provider: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # claim, route, send, record
    commits: int = 0  # the recorder's transactions

    def add(self, other: DispatchStats) -> None:
        self.claimed += other.claimed
        self.seconds += other.seconds
        self.commits += other.commits
        for k, v in other.by_status.items():
            self.by_status[k] += v
        for k, v in other.by_provider.items():
            self.by_provider[k] += v
        for k, v in other.phases.items():
            self.phases[k] += v

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "by_status": dict(self.by_status), "by_provider": dict(self.by_provider), "seconds": round(self.seconds, 3),
                "phases": {k: round(v, 3) for k, v in self.phases.items()}, "commits": self.commits}


class Dispatcher:
    """Sends due messages. One instance keeps its provider pools, thread pools and recorder
    across batches. `clock` is injectable so tests can drive time (backoff, expiry, autopilot
    windows, leases)."""

    def __init__(
        self,
        providers: ProvidersResource,
        store: StoreResource,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
        batch_size: int = 200,
        owner: str | None = None,
    ) -> None:
        self.providers = providers
        self.config = config = providers.config()
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch_size = batch_size
        self.owner = owner or f"run:{uuid.uuid4().hex[:12]}"
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._recorder = _Recorder(store, self.owner, clock, config.lease_seconds)
        self._tokens = Tokens(store)
        self._paused: dict[str, dt.datetime] = {}  # provider -> end of its pause (real time), as last read or asked

    def _pool(self, provider: Provider) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(provider.name)
            if pool is None:
                pool = ThreadPoolExecutor(max(provider.max_concurrency, 1), thread_name_prefix=f"send-{provider.name}")
                self._pools[provider.name] = pool
            return pool

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()
        self._recorder.close()

    def run_once(self, channel: str) -> DispatchStats:
        """Claim, send and record one batch of `channel` (claimed 0: nothing due)."""
        batch = self._claim(channel)
        if batch.stats.claimed:
            self._send(batch)
        self._recorder.flush()
        return batch.stats

    def _claim(self, channel: str) -> _Batch:
        """Lease a batch, settle what a dead sender left in flight, expire what is past its time
        and draw a provider for the rest."""
        started = time.perf_counter()
        stats = DispatchStats()
        now = self.clock()
        with writing(self.store) as conn:
            rows = claim(conn, channel, self.owner, self.batch_size, now, self.config.lease_seconds)
            to_send, pinned = resolve_uncertain(conn, self.owner, rows, self._uncertain_resolution, now)
        stats.claimed = len(rows)
        if len(to_send) < len(rows):
            stats.by_status["lost"] += len(rows) - len(to_send)
        t_claimed = time.perf_counter()
        stats.phases["claim"] = t_claimed - started
        batch = _Batch(stats, [], started)
        if not rows:
            return batch
        router, stopped = routing_now(self.config, self.store, utcnow())
        with self._lock:
            self._paused = stopped
        for row in to_send:
            if row.expires_at is not None and row.expires_at <= now:
                batch.transitions.append(expired(row, now))
                continue
            if row.id in pinned:
                batch.assigned[pinned[row.id]].append(row)
                continue
            _, weights = router.weights_for(row.channel, row.country, row.capability)
            waiting = [stopped[k] for k, w in weights.items() if w > 0 and k in stopped]
            if waiting:
                weights = {k: w for k, w in weights.items() if k not in stopped}
            exclude = [row.provider] if row.number_of_retries and row.provider else []
            name = draw(weights, self.rng, exclude)
            if name is None and waiting:
                batch.transitions.append(requeued(row, now + (min(waiting) - utcnow()), "every provider paused"))
            elif name is None:
                batch.transitions.append(transition(row, None, None, self.config.retry, now))
            else:
                batch.assigned[name].append(row)
        stats.phases["route"] = time.perf_counter() - t_claimed
        return batch

    def _uncertain_resolution(self, row, unknowns: int) -> str:  # noqa: ANN001
        entry = self.config.providers.get(row.provider or "")
        kind = provider_kinds().get(entry.kind) if entry is not None else None
        idempotent = kind is not None and kind.request_idempotency
        return uncertain_resolution(row.priority, self.config.on_unknown_for(row.channel, row.priority), idempotent, unknowns)

    def _send(self, batch: _Batch) -> None:
        """Send the batch with bounded concurrency per provider; each request is marked in
        flight before it leaves and its answer recorded when it arrives."""
        t0 = time.perf_counter()
        self._recorder.record(batch.transitions, [])
        slots = []
        for name, group in batch.assigned.items():
            provider = self.providers.build(self.config.providers[name])
            step = max(provider.max_batch, 1)
            chunks = collections.deque(group[i : i + step] for i in range(0, len(group), step))
            # one task per sending slot, each taking the provider's next request until none is left
            for _ in range(min(max(provider.max_concurrency, 1), len(chunks))):
                slots.append((name, self._pool(provider).submit(self._send_chunks, provider, chunks)))
        stats = batch.stats
        for name, future in slots:
            moved = future.result()
            batch.transitions.extend(moved)
            stats.by_provider[name] += len(moved)
        for t in batch.transitions:
            stats.by_status[t.status] += 1
        stats.phases["send"] = time.perf_counter() - t0
        stats.seconds = time.perf_counter() - batch.started

    def _send_chunks(self, provider: Provider, chunks: collections.deque) -> list[Transition]:
        moved: list[Transition] = []
        while True:
            try:
                rows = chunks.popleft()
            except IndexError:
                return moved
            moved += self._send_chunk(provider, rows)

    def _send_chunk(self, provider: Provider, rows: list) -> list[Transition]:
        """One request's worth of messages: those that cannot be put on the wire end
        `provider_error` without a request; the others are marked in flight, sent, and their
        answers handed to the recorder (this slot's next marker commits with or after them)."""
        answered: list[tuple[object, SendResult, str | None]] = []
        ready: list[tuple[object, Outgoing]] = []
        for row in rows:
            message, problem = readable(row)
            if problem:
                answered.append((row, not_sent(row, problem), None))
            else:
                ready.append((row, message))
        ready, waiting = self._admit(provider, ready)
        answered += [(row, result, provider.name) for row, result in send_request(provider, ready, self._recorder.mark)]
        now = self.clock()
        moved = [requeued(row, now, why) for row, why in waiting]
        asked = [result.retry_after or 0.0 for _, result, _ in answered if result.outcome == THROTTLED]
        if asked:
            self._pause(provider.name, max(asked))
        moved += [requeued(row, now, f"throttled: {result.detail}") if result.outcome == THROTTLED else transition(row, result, name, self.config.retry, now)
                  for row, result, name in answered]
        attempts = [attempt_row(result, name, now) for _, result, name in answered if name is not None]
        self._recorder.record(moved, attempts)
        return moved

    def _admit(self, provider: Provider, ready: list[tuple]) -> tuple[list[tuple], list[tuple]]:
        """The messages of `ready` that may leave now, and (row, why) for those that go back to the
        queue: all of them while the provider is paused; with a `rate_per_second`, those that got
        no token before half their lease had run (the slot waits for the bucket to refill)."""
        if not ready:
            return ready, []
        with self._lock:
            until = self._paused.get(provider.name)
        if until is not None and until > utcnow():
            return [], [(row, "provider paused") for row, _ in ready]
        if provider.rate_per_second is None:
            return ready, []
        left = (min(row.lease_until for row, _ in ready) - self.clock()).total_seconds() - self.config.lease_seconds / 2
        got = self._tokens.wait(provider.name, provider.rate_per_second, len(ready), time.monotonic() + max(left, 0.0))
        return ready[:got], [(row, "rate limit") for row, _ in ready[got:]]

    def _pause(self, name: str, seconds: float) -> None:
        """Pause provider `name` for every dispatcher of the store (it asked us to wait)."""
        until = pause(self.store, name, seconds)
        with self._lock:
            self._paused[name] = max(until, self._paused.get(name, until))
        log.warning("provider %s asked to wait %.1f s; paused until %s", name, seconds, until.isoformat())

    def drain(self, channels: Sequence[str] = CHANNELS, timeout: float | None = None) -> DispatchStats:
        """Dispatch until nothing is due on `channels` (or `timeout` seconds pass); channels in parallel."""
        deadline = None if timeout is None else time.monotonic() + timeout
        commits, commit_seconds = self._recorder.commits, self._recorder.seconds
        results: dict[str, DispatchStats] = {}
        failures: list[BaseException] = []

        def run(channel: str) -> None:
            try:
                results[channel] = self._drain_channel(channel, deadline)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(c,), name=f"drain-{c}") for c in channels]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if failures:
            raise failures[0]
        total = DispatchStats()
        for stats in results.values():
            total.add(stats)
        total.commits = self._recorder.commits - commits
        total.phases["record"] = self._recorder.seconds - commit_seconds
        return total

    def _drain_channel(self, channel: str, deadline: float | None) -> DispatchStats:
        """A two-stage pipeline: a claimer leases and routes batch N+1 while batch N is being
        sent (answers are recorded as they arrive). Leases keep a batch out of later claims;
        when the claimer finds nothing, what the last batches rescheduled is checked once more
        after every answer is recorded."""
        claimed: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        failures: list[BaseException] = []
        done: list[DispatchStats] = []
        stop = threading.Event()

        def claimer() -> None:
            try:
                while not stop.is_set() and not failures and (deadline is None or time.monotonic() < deadline):
                    batch = self._claim(channel)
                    if batch.stats.claimed == 0:
                        break
                    claimed.put(batch)
                    if not batch.assigned and all(t.status == "held" for t in batch.transitions):
                        break
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)
            finally:
                claimed.put(None)

        stage = threading.Thread(target=claimer, daemon=True)
        stage.start()
        finished = False
        try:
            while (batch := claimed.get()) is not None:
                self._send(batch)
                done.append(batch.stats)
            else:
                finished = True
        finally:
            stop.set()
            while not finished and claimed.get() is not None:  # let the claimer finish; its leases simply expire
                pass
            stage.join()
        self._recorder.flush()
        if failures:
            raise failures[0]
        while deadline is None or time.monotonic() < deadline:  # what the last batches made due again
            stats = self.run_once(channel)
            if stats.claimed == 0:
                break
            done.append(stats)
            if stats.claimed == stats.by_status.get("held", 0):
                break
        total = DispatchStats()
        for stats in done:
            total.add(stats)
        return total


@dataclass
class _Batch:
    stats: DispatchStats
    transitions: list[Transition]
    started: float
    assigned: dict[str, list] = field(default_factory=lambda: defaultdict(list))


@dataclass
class _Mark:
    provider: str
    leases: list[tuple[str, dt.datetime]]
    done: threading.Event = field(default_factory=threading.Event)
    ours: set[str] = field(default_factory=set)
    error: BaseException | None = None


class _Recorder:
    """Commits what the senders hand it in small groups, one transaction for whatever arrived
    meanwhile, from a writer thread of its own: in-flight markers, which a sender waits for
    before its request leaves, and answers, which it does not wait for. A sender hands in its
    answer before its next marker, so that marker commits with or after the answer: each
    sending slot has at most one request whose outcome the store does not know. Each sender
    waits on its own marker's event (waking every sender at each commit cost more than the
    commits: measured, the GIL went to wake-ups)."""

    def __init__(self, store: StoreResource, owner: str, clock: Callable[[], dt.datetime], lease_seconds: float) -> None:
        self._store, self._owner, self._clock, self._lease_seconds = store, owner, clock, lease_seconds
        self._cond = threading.Condition()  # the writer waits on it; `flush` callers too
        self._marks: list[_Mark] = []
        self._transitions: list[Transition] = []
        self._attempts: list[dict] = []
        self._submitted = self._committed = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits, self.seconds = 0, 0.0  # transactions written and the time they took

    def _pending(self) -> bool:
        return bool(self._marks or self._transitions or self._attempts)

    def _submit(self, mark: _Mark | None, transitions: Sequence[Transition], attempts: Sequence[dict]) -> None:
        with self._cond:
            if self._error is not None:
                raise self._error
            if self._thread is None:
                self._closed = False
                self._thread = threading.Thread(target=self._run, name=f"record-{self._owner}", daemon=True)
                self._thread.start()
            if mark is not None:
                self._marks.append(mark)
            self._transitions.extend(transitions)
            self._attempts.extend(attempts)
            self._submitted += 1
            self._cond.notify_all()

    def mark(self, provider: str, leases: list[tuple[str, dt.datetime]]) -> set[str]:
        """Commit that these messages are in flight to `provider`; returns the ids still ours to send."""
        mark = _Mark(provider, leases)
        self._submit(mark, (), ())
        mark.done.wait()
        if mark.error is not None:
            raise mark.error
        return mark.ours

    def record(self, transitions: Sequence[Transition], attempts: Sequence[dict]) -> None:
        if transitions or attempts:
            self._submit(None, transitions, attempts)

    def flush(self) -> None:
        """Wait until everything handed in so far is committed."""
        with self._cond:
            target = self._submitted
            while self._committed < target and self._error is None:
                self._cond.wait()
            if self._error is not None:
                raise self._error

    def close(self) -> None:
        with self._cond:
            thread, self._thread = self._thread, None
            self._closed = True
            self._cond.notify_all()
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        with self._cond:
            while self._error is None:
                if self._pending():
                    self._commit_group()
                elif self._closed:
                    return
                else:
                    self._cond.wait()

    def _commit_group(self) -> None:
        """Write everything pending in one transaction (called with the condition held; it is
        released while writing)."""
        marks, transitions, attempts = self._marks, self._transitions, self._attempts
        self._marks, self._transitions, self._attempts = [], [], []
        taken = self._submitted
        self._cond.release()
        error = None
        started = time.perf_counter()
        try:
            now = self._clock()
            hold_until = now + dt.timedelta(seconds=self._lease_seconds)
            with writing(self._store) as conn:
                if transitions or attempts:
                    persist(conn, self._owner, transitions, attempts, now)
                by_provider: dict[str, list[_Mark]] = defaultdict(list)
                for mark in marks:
                    by_provider[mark.provider].append(mark)
                for provider, group in by_provider.items():  # one statement per provider, whatever the senders
                    ours = mark_in_flight(conn, self._owner, provider, [lease for mark in group for lease in mark.leases], now, hold_until)
                    for mark in group:
                        mark.ours = {message_id for message_id, _ in mark.leases if message_id in ours}
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting sender
            error = exc
        finally:
            for mark in marks:
                mark.error = error
                mark.done.set()
            self._cond.acquire()
            self.commits += 1
            self.seconds += time.perf_counter() - started
            self._committed = max(self._committed, taken)
            if error is not None:
                self._error = error
            self._cond.notify_all()


def unsendable(message: Outgoing) -> str:
    """Why a stored message cannot be put on the wire ('' when it can): text a request cannot
    encode (a lone surrogate) or a line break in an email subject (header injection).
    Validation refuses these at submission; this keeps a row that got in anyway from making
    the provider call raise."""
    fields = {"recipient": message.recipient, "body": message.body, "subject": message.subject, "html": message.html, "title": message.title,
              **{f"data.{k}": v for k, v in (message.data or {}).items()}}
    for name, value in fields.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return f"{name} holds text that cannot be encoded"
    if message.subject and ("\r" in message.subject or "\n" in message.subject):
        return "the subject holds a line break"
    return ""


def readable(row) -> tuple[Outgoing | None, str]:  # noqa: ANN001
    """The message a stored row holds, and why it cannot be put on the wire ('' when it can)."""
    try:
        message = Outgoing.from_row(row)
    except Exception as exc:  # noqa: BLE001 - a malformed stored row ends recorded, never stops a send
        return None, f"the stored message cannot be read ({type(exc).__name__})"
    return message, unsendable(message)


def not_sent(row, problem: str) -> SendResult:  # noqa: ANN001
    """The answer for a message that cannot be put on the wire: no request, `provider_error`."""
    return SendResult(row.id, PERMANENT, detail=f"not sent: {problem}")


def send_request(provider: Provider, ready: Sequence[tuple], mark: Callable[[str, list], set[str]],
                 timeout: float | None = None) -> list[tuple[object, SendResult]]:
    """One request to `provider`, the one send step of queued dispatch and HIGH sends: `mark`
    (`mark(provider_name, [(id, lease_until)])` -> the ids still ours) commits the messages of
    `ready` ((row, message) pairs) in flight first, only those still ours leave, and each gets
    its answer (retryable when the provider gave none)."""
    if not ready:
        return []
    ours = mark(provider.name, [(row.id, row.lease_until) for row, _ in ready])
    ready = [(row, m) for row, m in ready if row.id in ours]
    if not ready:
        return []
    by_id = {r.message_id: r for r in call_provider(provider, [m for _, m in ready], timeout)}
    return [(row, by_id.get(row.id) or SendResult(row.id, RETRYABLE, detail="no result from provider")) for row, _ in ready]


def call_provider(provider: Provider, messages: list[Outgoing], timeout: float | None = None) -> list[SendResult]:
    """The provider's answers, timed; a provider that raises ends the messages `provider_error`
    (the request may have left, so retrying could send them twice)."""
    t0 = time.perf_counter()
    try:
        results = provider.send_batch(messages, timeout)
        asked = provider.take_pause()
    except Exception as exc:  # noqa: BLE001
        # the type only: an exception's text can carry the recipient or the content
        log.error("provider %s raised %s for %d message(s); recorded as provider_error, not re-sent", provider.name, type(exc).__name__, len(messages))
        return [SendResult(m.id, PERMANENT, detail=f"the provider call raised {type(exc).__name__}; not re-sent") for m in messages]
    ms = (time.perf_counter() - t0) * 1000
    # a retryable answer that asked us to wait (429, 503 with Retry-After) is a throttle, not an error
    return [SendResult(r.message_id, THROTTLED if asked is not None and r.outcome == RETRYABLE else r.outcome, r.provider_message_id, r.detail,
                       r.http_status, r.latency_ms or ms, asked) for r in results]
