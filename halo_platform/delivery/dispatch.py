"""Dispatching queued messages: claim a leased batch, settle what a dead sender left in flight,
expire what is past its time, draw a provider per message (a retry avoids the provider that
just failed), and send with bounded concurrency per provider (batch APIs where the provider
has one), within each provider's rate limit and never while it is paused (`throttle`).
Crash safety: each request's messages are marked in flight (committed) before it leaves, and
its answer is recorded as soon as it arrives, so a crash leaves at most one uncertain request
per sending slot, never a batch.

Batches are sent from one thread (`_Sending`): one loop drives every provider's keep-alive
connections by waiting for their sockets, and writes the answers and the next in-flight markers
of each round in one transaction (on SQLite, in steps of 64 answers when a HIGH write waits for
the lock), on a recorder thread while the loop goes on reading answers.
A drain feeds that loop from a claimer per channel (`_Feed`): a channel's next batch joins as
soon as its requests still to send no longer fill its free slots, so the wire does not wait for
a batch's last answers. The one loop, measured against the design before it (a thread per
sending slot handing markers and answers to a writer thread), 20,000 SMS over two
providers, 8 connections each, one dispatcher, SQLite, load 6-7: 159,000 -> 4,800 voluntary
context switches, 284 -> 184 us of dispatcher CPU per SMS, 2,881 -> 1,542 transactions, 2,075
-> 2,855 msg/s. The cross-thread handoffs and the GIL among 16 threads were the cost."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import os
import queue
import random
import selectors
import socket
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from halo_platform.core.engine import retried_on_deadlock
from halo_platform.core.models import utcnow
from halo_platform.core.sqlite_rows import ROWS_PER_STATEMENT
from halo_platform.core.store import StoreResource
from halo_platform.core.text import lone_surrogate
from halo_platform.core.write_lock import in_autocommit, writing, writing_in_steps
from halo_platform.delivery.config import CHANNELS
from halo_platform.delivery.lifecycle import (
    Transition,
    attempt_row,
    due_by,
    expired,
    requeued,
    transition,
    uncertain_resolution,
)
from halo_platform.delivery.providers.base import (
    PERMANENT,
    RETRYABLE,
    THROTTLED,
    UNKNOWN,
    Outgoing,
    Provider,
    SendResult,
    asked_pause,
    transport_failure,
)
from halo_platform.delivery.providers.wire import Exchange, NoAnswer, NotSent, Reply, WirePool
from halo_platform.delivery.queue import (
    apply_parked,
    decode_claimed,
    lease_due,
    one_statement,
    persist,
    recorded_ids,
    resolve_uncertain,
    settle_parked,
    uncertain_rows,
)
from halo_platform.delivery.quiet_hours import quiet_until, recipient_zones
from halo_platform.delivery.resources import ProvidersResource, provider_kinds
from halo_platform.delivery.routing import draw
from halo_platform.delivery.state import routing_now
from halo_platform.delivery.suppressions import suppressed_among
from halo_platform.delivery.throttle import Tokens, pause

log = logging.getLogger("halo.delivery")
#: the longest a sending loop waits for more answers to share a transaction
MAX_WINDOW_SECONDS = 0.01
#: the nice value of a drain's threads: bulk sending yields the CPU to the API answering HIGH
#: sends on the same host. `halo bench delivery`, 40,000 messages, two pairs back to back (load
#: 2-5): HIGH p50 / p99 during the drain 60 / 160 ms at 0 vs 32 / 83 ms at 10 on PostgreSQL
#: with 2 dispatchers, 20 vs 14 ms p50 on SQLite, the drain rate within the runs' spread
DRAIN_NICENESS = 10
#: the GIL's switch interval while a drain runs (Python's default is 5 ms). The sending loop gives
#: the GIL up at every system call and waits, each time, for the recorder or a claimer thread to
#: give it back: up to the interval when that thread computes. `halo bench delivery`, 20,000
#: messages, SQLite, one dispatcher, alternated (load 4-7): 2,129-2,216 msg/s at 0.5 ms vs
#: 1,804-1,845 at 5 ms; 2,123 at 0.2 ms; 1,545-1,629 at 0.5 ms while the sockets had timeouts
#: (7 system calls per request instead of 3, `wire`)
DRAIN_SWITCH_INTERVAL = 0.0005


#: messages per claim. On SQLite a claim holds the store's only write lock, which a HIGH write may wait
#: for: 200 rows hold it p99 16 ms vs 93 ms for 500 (load 16); 1000 raised HIGH p99 during a drain from
#: 52 / 50 to 98 / 74 ms. On PostgreSQL and MariaDB a claim locks only its own rows: `halo bench delivery`,
#: 60,000 messages, two pairs back to back (load 3-5), 1000 vs 200 drained 4,259 / 3,890 vs 3,382 / 3,748
#: msg/s with one dispatcher and 4,935 / 5,055 vs 4,046 / 4,203 with two, HIGH p99 50 / 50 vs 43 / 38 ms
SQLITE_BATCH, SERVER_BATCH = 200, 1000


def default_batch(store: StoreResource) -> int:
    """Messages per claim on `store` (`SQLITE_BATCH` / `SERVER_BATCH`)."""
    return SQLITE_BATCH if store.sqlite else SERVER_BATCH


_drains = [0, 0.0]  # drains under way in this process, and the switch interval before the first
_drains_lock = threading.Lock()


@contextlib.contextmanager
def _short_switch_interval() -> Iterator[None]:
    """`DRAIN_SWITCH_INTERVAL` while any drain of this process runs, then the interval before."""
    with _drains_lock:
        if _drains[0] == 0:
            _drains[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(_drains[1], DRAIN_SWITCH_INTERVAL))
        _drains[0] += 1
    try:
        yield
    finally:
        with _drains_lock:
            _drains[0] -= 1
            if _drains[0] == 0:
                sys.setswitchinterval(_drains[1])


def yield_cpu() -> None:
    """Lower the calling thread's CPU priority to `DRAIN_NICENESS` (threads it starts inherit it).
    Linux only, where a nice value is per thread: the process and its other threads keep theirs."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), DRAIN_NICENESS))


@dataclass
class DispatchStats:
    claimed: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_provider: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # claim, route, send, record
    commits: int = 0  # the sending rounds' transactions

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
    """Sends due messages. One instance keeps its connections and thread pools across batches.
    `clock` is injectable so tests can drive time (backoff, expiry, autopilot windows, leases)."""

    def __init__(
        self,
        providers: ProvidersResource,
        store: StoreResource,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
        batch_size: int | None = None,
        owner: str | None = None,
    ) -> None:
        self.providers = providers
        self.config = providers.config()
        self.store = store
        self.clock = clock
        self.rng = rng or random.Random()
        self.batch_size = batch_size or default_batch(store)
        self.owner = owner or f"run:{uuid.uuid4().hex[:12]}"
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._wires: dict[str, tuple[Provider, WirePool]] = {}  # the sending loops' own connections, per provider
        self._lock = threading.Lock()
        self._tokens = Tokens(store)
        self._paused: dict[str, dt.datetime] = {}  # provider -> end of its pause (real time), as last read or asked

    def _pool(self, provider: Provider) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._pools.get(provider.name)
            if pool is None:
                pool = ThreadPoolExecutor(max(provider.max_concurrency, 1), thread_name_prefix=f"send-{provider.name}")
                self._pools[provider.name] = pool
            return pool

    def _wire(self, provider: Provider) -> WirePool:
        """This dispatcher's connections to `provider` (new ones when its settings changed)."""
        with self._lock:
            held = self._wires.get(provider.name)
            if held is None or held[0] is not provider:
                if held is not None:
                    held[1].close()
                held = self._wires[provider.name] = (provider, provider.connections())
            return held[1]

    def close(self) -> None:
        for pool in self._pools.values():
            pool.shutdown(wait=True)
        self._pools.clear()
        for _, wire in self._wires.values():
            wire.close()
        self._wires.clear()

    def run_once(self, channel: str) -> DispatchStats:
        """Claim, send and record one batch of `channel` (claimed 0: nothing due)."""
        batch = self._claim(channel)
        if not batch.stats.claimed:
            return batch.stats
        sending = _Sending(self)
        sending.add(batch)
        return sending.run()

    def _claim(self, channel: str) -> _Batch:
        """Lease a batch, settle what a dead sender left in flight, expire what is past its time
        and draw a provider for the rest."""
        started = time.perf_counter()
        stats = DispatchStats()
        now = self.clock()
        with writing(self.store) as conn:
            raw = lease_due(conn, channel, self.owner, self.batch_size, now, self.config.lease_seconds)
            settle = uncertain_rows(raw)
            if settle:  # what a dead sender left in flight is settled in the claim's transaction (rare)
                rows = decode_claimed(conn.dialect, raw)
                to_send, pinned = resolve_uncertain(conn, self.owner, rows, self._uncertain_resolution, now)
        if not settle:  # decoded once the write lock is free
            rows = to_send = decode_claimed(conn.dialect, raw)
            pinned = {}
        stats.claimed = len(rows)
        if len(to_send) < len(rows):
            stats.by_status["lost"] += len(rows) - len(to_send)
        t_claimed = time.perf_counter()
        stats.phases["claim"] = t_claimed - started
        batch = _Batch(channel, stats, [])
        if not rows:
            return batch
        # a message whose request was in flight when its recipient opted out (the suppression could
        # not end it) and that came back for a retry, or for a resend after its sender died
        with self.store.read() as conn:
            opted_out = {to_send[i].id for i in suppressed_among(conn, channel, [(r.recipient, r.priority) for r in to_send])}
        router, stopped = routing_now(self.config, self.store, utcnow())
        with self._lock:
            self._paused = stopped
        for row in to_send:
            if row.expires_at is not None and row.expires_at <= now:
                batch.transitions.append(expired(row, now))
                continue
            if row.id in opted_out:
                batch.transitions.append(Transition(row.id, "suppressed", row.provider, None, row.number_of_retries, row.next_attempt_at,
                                                    "the recipient opted out"))
                continue
            if (quiet := self._quiet_until(row, now)) is not None:  # a retry or a backlog due inside them
                batch.transitions.append(requeued(row, quiet, f"quiet hours until {quiet:%Y-%m-%dT%H:%M:%SZ}"))
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

    def _quiet_until(self, row, now: dt.datetime) -> dt.datetime | None:  # noqa: ANN001
        """When the recipient's quiet hours around `now` end (never after `expires_at`), for a
        NORMAL/LOW message; None when it may go now. Submission defers a message due inside them;
        this catches what becomes due inside them later: a retry, a backlog."""
        window = None if row.priority == "HIGH" else self.config.quiet_hours_for(row.channel, row.country)
        end = window and quiet_until(now, window, recipient_zones(row.channel, row.recipient, row.country, row.timezone))
        if not end:
            return None
        return due_by(row, end)

    def _uncertain_resolution(self, row, unknowns: int) -> str:  # noqa: ANN001
        entry = self.config.providers.get(row.provider or "")
        kind = provider_kinds().get(entry.kind) if entry is not None else None
        idempotent = kind is not None and kind.request_idempotency
        return uncertain_resolution(row.priority, self.config.on_unknown_for(row.channel, row.priority), idempotent, unknowns)

    def _admit(self, provider: Provider, ready: list[tuple]) -> tuple[list[tuple], list[tuple], list[tuple]]:
        """The messages of `ready` that may leave now, (row, why) for those that go back to the
        queue, and those that wait for the provider's rate: all go back while the provider is
        paused; with a `rate_per_second`, those that got no token wait, until half their lease
        has run (then they go back to the queue)."""
        if not ready:
            return ready, [], []
        with self._lock:
            until = self._paused.get(provider.name)
        if until is not None and until > utcnow():
            return [], [(row, "provider paused") for row, _ in ready], []
        if provider.rate_per_second is None:
            return ready, [], []
        got = self._tokens.take(provider.name, provider.rate_per_second, len(ready))
        left = (min(row.lease_until for row, _ in ready) - self.clock()).total_seconds() - self.config.lease_seconds / 2
        if got == len(ready) or left > 0:
            return ready[:got], [], ready[got:]
        return ready[:got], [(row, "rate limit") for row, _ in ready[got:]], []

    def _pause(self, name: str, seconds: float) -> None:
        """Pause provider `name` for every dispatcher of the store (it asked us to wait)."""
        until = pause(self.store, name, seconds)
        with self._lock:
            self._paused[name] = max(until, self._paused.get(name, until))
        log.warning("provider %s asked to wait %.1f s; paused until %s", name, seconds, until.isoformat())

    def drain(self, channels: Sequence[str] = CHANNELS, timeout: float | None = None) -> DispatchStats:
        """Dispatch until nothing is due on `channels` (or `timeout` seconds pass): a claimer per
        channel leases and routes batches ahead (`_Feed`) and one sending loop sends them all,
        on threads at a lower CPU priority (`yield_cpu`), the GIL passing between them every
        `DRAIN_SWITCH_INTERVAL`. What the last batches made due again
        (a throttled message, a retry due at once) is checked once more after every answer is
        recorded."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # a channel named twice (`--channel sms --channel sms`, a launchpad list) is one claimer: two
        # shared its batches' queue, and a batch one put after the other's end was never taken (leased, unsent)
        channels = list(dict.fromkeys(channels))
        outcome: list[DispatchStats | BaseException] = []

        def run() -> None:
            yield_cpu()  # this thread, the claimers and the providers' pools it starts
            try:
                outcome.append(self._drain(channels, deadline))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome.append(exc)

        thread = threading.Thread(target=run, name="drain")
        with _short_switch_interval():
            thread.start()
            thread.join()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _drain(self, channels: Sequence[str], deadline: float | None) -> DispatchStats:
        sending = _Sending(self)
        with _Feed(self, channels, deadline, sending.nudge) as feed:
            total = sending.run(feed)
        for channel in channels:
            while deadline is None or time.monotonic() < deadline:
                stats = self.run_once(channel)
                total.add(stats)
                if stats.claimed == stats.by_status.get("held", 0):  # nothing due, or only what waits for its providers
                    break
        return total


@dataclass
class _Batch:
    channel: str
    stats: DispatchStats
    transitions: list[Transition]  # settled by the claim: expired, requeued, no provider
    assigned: dict[str, list] = field(default_factory=lambda: defaultdict(list))


class _Feed:
    """Batches leased and routed ahead by a claimer thread per channel, for one sending loop
    (`_Sending.run`), which takes a channel's next batch as soon as that channel's requests
    still to send no longer fill its free slots: the wire does not idle while a batch's last
    answers come in, nor while the next batch is claimed. At most one batch per channel waits
    to be taken (its leases run meanwhile; those of a batch never taken simply expire)."""

    def __init__(self, dispatcher: Dispatcher, channels: Sequence[str], deadline: float | None, nudge: Callable[[], None]) -> None:
        self.d, self.deadline, self.nudge = dispatcher, deadline, nudge
        self.ready: dict[str, queue.Queue[_Batch | None]] = {c: queue.Queue(maxsize=1) for c in channels}
        self.open = set(channels)  # channels whose claimer may still deliver
        self.failures: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._claimer, args=(c,), name=f"claim-{c}", daemon=True) for c in channels]
        for thread in self.threads:
            thread.start()

    def _claimer(self, channel: str) -> None:
        try:
            while not self.stop.is_set() and not self.failures and (self.deadline is None or time.monotonic() < self.deadline):
                batch = self.d._claim(channel)
                if batch.stats.claimed == 0:
                    break
                self._put(channel, batch)
                if not batch.assigned and all(t.status == "held" for t in batch.transitions):
                    break
        except BaseException as exc:  # noqa: BLE001 - raised when the feed closes
            self.failures.append(exc)
        finally:
            self._put(channel, None)

    def _put(self, channel: str, batch: _Batch | None) -> None:
        while not self.stop.is_set():
            try:
                self.ready[channel].put(batch, timeout=0.05)
            except queue.Full:
                continue
            self.nudge()
            return

    def take(self, channel: str) -> _Batch | None:
        """`channel`'s next batch if one is ready (none once a claimer failed)."""
        if channel not in self.open or self.failures:
            return None
        try:
            batch = self.ready[channel].get_nowait()
        except queue.Empty:
            return None
        if batch is None:
            self.open.discard(channel)
        return batch

    @property
    def ended(self) -> bool:
        """No batch will come any more."""
        return not self.open or bool(self.failures)

    def __enter__(self) -> _Feed:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        if self.failures and kind is None:
            raise self.failures[0]


@dataclass
class _Lane:
    """One provider's requests in a sending loop: those still to send (lists of rows, in claim
    order) and its free sending slots. A kind that sends one HTTP request per message goes over
    `wire`, the dispatcher's own connections; the others' requests (batch APIs, SMTP, the
    sandbox: their own blocking clients) run in `pool`."""

    provider: Provider
    channel: str
    chunks: collections.deque
    free: int
    wire: WirePool | None = None
    pool: ThreadPoolExecutor | None = None
    not_before: float = 0.0  # waiting for the provider's rate (`time.monotonic()`)


@dataclass
class _InFlight:
    """A request on the wire: its lane, its (row, message) pairs, when it left, and its exchange
    (a kind sending one HTTP request per message; the others' run in the lane's pool)."""

    lane: _Lane
    ready: list[tuple]
    started: float
    exchange: Exchange | None = None


#: how long an idle sending loop waits for its next batch before looking again (a batch nudges it)
IDLE_SECONDS = 0.1
#: how often a sending loop looks for the callbacks kept for the ids it recorded (`apply_parked`; a
#: callback that overtook the answer it follows, rare): at most this long after their commit, then once
#: more after the loop's last transaction. A look in every round was one round trip of three in each
#: PostgreSQL transaction
SETTLE_SECONDS = 0.1


class _Sending:
    """Batches sent from one thread: each lane's HTTP requests are driven over the provider's
    keep-alive connections by waiting for their sockets (no thread per request); other kinds'
    requests run in the lane's thread pool and signal their end on a socket, as does a claimer
    with a new batch. Each round writes, in one transaction, the answers that arrived and the
    in-flight markers of the requests about to fill the freed slots: a slot's next marker
    commits with its last answer (or after it, when a HIGH write came in between two steps of
    the transaction: the markers are its last step), so each slot has at most one request
    whose outcome the store does not know. A lane keeps its provider's settings for the whole loop."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher
        self.lanes: dict[str, _Lane] = {}  # by provider name
        self.stats = DispatchStats()
        self.transitions: list[Transition] = []  # to write in the next round
        self.attempts: list[dict] = []
        self.selector = selectors.DefaultSelector()
        self.on_wire: dict[socket.socket, _InFlight] = {}  # HTTP requests awaiting their answer, by socket
        self.in_flight = 0
        self.answered = 0  # requests that ended
        self.nudges = self.seen = 0  # wake-ups from other threads (batches, transactions): sent, seen by the loop
        self.window = 0.0  # how long the last transaction took
        self.finished: queue.SimpleQueue = queue.SimpleQueue()  # threads' requests that ended
        self.queued: list[_InFlight] = []  # requests whose markers wait for the next transaction
        self.writing: Future | None = None  # the transaction under way, on the recorder thread
        self.unsettled: set[tuple[str, str]] = set()  # provider ids recorded since the last look for kept callbacks
        self.settled_at = time.monotonic()  # that look
        self.held: Connection | None = None  # the recorder's connection to a PostgreSQL or MariaDB store, kept for the loop
        self.holds = not dispatcher.store.sqlite
        self.recorder = ThreadPoolExecutor(1, thread_name_prefix="record")
        self.wake = socket.socketpair()  # a pool thread's request ended, a batch came, a transaction ended
        self.wake[0].setblocking(False)
        self.selector.register(self.wake[0], selectors.EVENT_READ, None)

    def nudge(self) -> None:
        """A batch came, or a transaction ended (called from their threads)."""
        self.nudges += 1
        with contextlib.suppress(OSError):  # the loop may have ended and closed already
            self.wake[1].send(b"\0")

    def add(self, batch: _Batch) -> None:
        """Queue `batch`'s requests on its providers' lanes; what its claim settled (expired,
        requeued) is written in the next round."""
        self.stats.add(batch.stats)
        self._count(batch.transitions)
        self.transitions += batch.transitions
        d = self.d
        for name, group in batch.assigned.items():
            lane = self.lanes.get(name)
            if lane is None:
                provider = d.providers.build(d.config.providers[name])
                one_call = provider.one_call_per_message
                lane = self.lanes[name] = _Lane(provider, batch.channel, collections.deque(), max(provider.max_concurrency, 1),
                                                wire=d._wire(provider) if one_call else None, pool=None if one_call else d._pool(provider))
            step = max(lane.provider.max_batch, 1)
            lane.chunks.extend(group[i : i + step] for i in range(0, len(group), step))

    def run(self, feed: _Feed | None = None) -> DispatchStats:
        """Send until every request has ended and, with a `feed`, no batch will come any more.
        Transactions run on the recorder thread, one at a time, while this loop reads answers
        and prepares requests: each one writes what came during the one before."""
        started = time.perf_counter()
        try:
            while True:
                self.seen = self.nudges
                if self.writing is not None and self.writing.done():
                    self._written()
                if feed is not None:
                    self._refill(feed)
                self.queued += self._starts()
                if self.writing is None and (self.queued or self.transitions or self.attempts):
                    self._write()
                if self.in_flight or self.writing is not None or any(lane.chunks for lane in self.lanes.values()):
                    self._wait()
                elif feed is None or feed.ended:
                    break
                else:
                    self._take(self.selector.select(IDLE_SECONDS))
        finally:
            self.recorder.shutdown(wait=True)
            if self.held is not None:
                self.held.close()
            self.selector.close()
            for sock in self.wake:
                sock.close()
        settle_parked(self.d.store, self.unsettled, self.d.clock())  # no transaction follows the last one
        took = time.perf_counter() - started
        self.stats.seconds += took
        self.stats.phases["send"] += took
        return self.stats

    def _refill(self, feed: _Feed) -> None:
        """Take the next batch of each channel whose requests still to send no longer fill its
        free slots (the slots' next requests are then ready when they free)."""
        for channel in list(feed.open):
            lanes = [lane for lane in self.lanes.values() if lane.channel == channel]
            if sum(len(lane.chunks) for lane in lanes) <= sum(lane.free for lane in lanes) and (batch := feed.take(channel)):
                self.add(batch)

    def _count(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self.stats.by_status[t.status] += 1

    def _starts(self) -> list[_InFlight]:
        """Requests for the free slots: rows past their `expires_at` (they waited in the lane
        for the provider's rate) end `expired` and rows that cannot be put on the wire are
        answered at once; the others wait for the provider's rate or go back to the queue
        (`_admit`)."""
        starts, now = [], time.monotonic()
        for lane in self.lanes.values():
            while lane.free and lane.chunks and lane.not_before <= now:
                rows = lane.chunks.popleft()
                ready, answered, ended = [], [], []
                clock = self.d.clock()
                for row in rows:
                    message, problem = readable(row)
                    if row.expires_at is not None and row.expires_at <= clock:  # it expired waiting in the lane (for the rate)
                        ended.append(expired(row, clock))
                    elif problem:
                        answered.append((row, not_sent(row, problem), None))
                    else:
                        ready.append((row, message))
                ready, back, waiting = self.d._admit(lane.provider, ready)
                if waiting:
                    lane.chunks.appendleft([row for row, _ in waiting])
                    lane.not_before = now + min(max(1.0 / (lane.provider.rate_per_second or 1.0), 0.005), 0.1)
                self._record(lane, answered, ended + [requeued(row, clock, why) for row, why in back])
                if ready:
                    lane.free -= 1
                    starts.append(_InFlight(lane, ready, 0.0))
        return starts

    def _write(self) -> None:
        """Start the next transaction on the recorder thread: the answers so far, and the
        markers of the queued requests (which leave when it has committed, `_written`)."""
        d = self.d
        transitions, attempts, starts = self.transitions, self.attempts, self.queued
        self.transitions, self.attempts, self.queued = [], [], []
        now = d.clock()
        self.writing = self.recorder.submit(self._commit, transitions, attempts, starts, now, now + dt.timedelta(seconds=d.config.lease_seconds))
        self.writing.add_done_callback(lambda _: self.nudge())

    def _commit(self, transitions: list[Transition], attempts: list[dict], starts: list[_InFlight], now: dt.datetime,
                hold_until: dt.datetime) -> tuple[list[_InFlight], set[str], float]:
        """One transaction (on the recorder thread): `starts`, the ids still ours among theirs, its time."""
        d, t0 = self.d, time.perf_counter()
        ours: set[str] = set()

        def record(conn: Connection, transitions: list[Transition], attempts: list[dict], marks: list[tuple]) -> None:
            ours.update(persist(conn, d.owner, transitions, attempts, now, marks, hold_until))

        groups = _answer_steps(transitions, attempts, d.store) or [([], [])]
        marks = [(row.id, f.lane.provider.name, row.lease_until) for f in starts for row, _ in f.ready]
        # the callbacks kept for the ids earlier transactions recorded (this one began after their commit),
        # looked for every `SETTLE_SECONDS`: nearly always there are none, and the look is a round trip
        look = bool(self.unsettled) and time.monotonic() - self.settled_at >= SETTLE_SECONDS
        steps = [functools.partial(apply_parked, recorded=self.unsettled, now=now)] if look else []
        steps += [functools.partial(record, transitions=t, attempts=a, marks=marks if n == len(groups) - 1 else [])
                  for n, (t, a) in enumerate(groups)]  # the markers in the last step, after every answer
        if self.held is None and self.holds:
            self.held = d.store.engine.connect()
        alone = len(steps) == 1 and self.held is not None and one_statement(self.held, transitions)
        retried_on_deadlock(functools.partial(in_autocommit, self.held, steps[0]) if alone
                            else functools.partial(writing_in_steps, d.store, steps, self.held))
        if look:
            self.unsettled, self.settled_at = set(), time.monotonic()
        self.unsettled |= recorded_ids(transitions)
        return starts, ours, time.perf_counter() - t0

    def _written(self) -> None:
        """The transaction ended: the requests with messages still ours leave (a request left
        with none frees its slot). A transaction that failed raises here."""
        starts, ours, took = self.writing.result()
        self.writing = None
        self.window = min(took, MAX_WINDOW_SECONDS)
        self.stats.commits += 1
        self.stats.phases["record"] += took
        for flight in starts:
            flight.ready = [(row, m) for row, m in flight.ready if row.id in ours]
            if flight.ready:
                self._launch(flight)
            else:
                flight.lane.free += 1

    def _launch(self, flight: _InFlight) -> None:
        lane = flight.lane
        provider = lane.provider
        flight.started = time.perf_counter()
        self.in_flight += 1
        if lane.pool is not None:
            writer = self.wake[1]

            def ended(future: Future) -> None:
                self.finished.put((flight, future))
                with contextlib.suppress(OSError):  # the loop may have taken it and closed already
                    writer.send(b"\0")

            lane.pool.submit(call_provider, provider, [m for _, m in flight.ready]).add_done_callback(ended)
            return
        row, message = flight.ready[0]
        try:
            call = provider.prepare_one(message)
            flight.exchange = lane.wire.start(call.method, call.path, call.body, call.headers)
        except (NotSent, NoAnswer) as exc:
            self._answer(flight, [provider_result(provider, message, transport_failure(exc))])
            return
        except Exception as exc:  # noqa: BLE001 - a message whose request cannot be built ends recorded
            self._answer(flight, [raised(provider, [message], exc)[0]])
            return
        self.selector.register(flight.exchange.sock, selectors.EVENT_READ, flight)
        self.on_wire[flight.exchange.sock] = flight

    def _wait(self) -> None:
        """Wait for answers and take those that came. Once one came, the others in flight get up
        to one transaction's time (`window`, the last one's) to come too: they then share the
        next transaction instead of each paying for one (waiting costs at most what the
        transaction it saves would); while a transaction is under way, they gather for the next
        one. Returns early for a lane whose rate lets it send again, and when a batch came or the
        transaction ended."""
        # the first deadline (a request's, or a lane's rate) as of now: waiting only makes it pass
        deadlines = [lane.not_before for lane in self.lanes.values() if lane.chunks and lane.free]
        if self.on_wire:
            deadlines.append(min(flight.exchange.deadline for flight in self.on_wire.values()))
        first = min(deadlines, default=None)
        answered, until = self.answered, None
        while self.nudges == self.seen:
            wake_at = min((t for t in (first, until) if t is not None), default=None)
            self._take(self.selector.select(None if wake_at is None else max(wake_at - time.monotonic(), 0.0)))
            now = time.monotonic()
            if first is not None and now >= first:
                self._expire(now)
                return
            if self.writing is not None:
                continue
            if not self.in_flight:
                return
            if until is None and self.answered > answered:
                until = now + self.window
            elif until is not None and now >= until:
                return

    def _take(self, events: list) -> None:
        """Read the answers of `events` (readable sockets)."""
        for key, _ in events:
            flight = key.data
            if flight is None:
                self._finished_threads()
                continue
            self.selector.unregister(key.fileobj)
            del self.on_wire[key.fileobj]
            provider, (_, message) = flight.lane.provider, flight.ready[0]
            try:
                reply = flight.lane.wire.finish(flight.exchange)
            except NoAnswer as exc:
                reply = transport_failure(exc)
            self._answer(flight, [provider_result(provider, message, reply)])

    def _expire(self, now: float) -> None:
        """Requests past their deadline end `unknown` (their connections are closed)."""
        for sock, flight in list(self.on_wire.items()):
            if flight.exchange.deadline <= now:
                self.selector.unregister(sock)
                del self.on_wire[sock]
                flight.lane.wire.abandon(flight.exchange)
                self._answer(flight, [SendResult(flight.ready[0][0].id, UNKNOWN, detail="no answer: timeout")])

    def _finished_threads(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while self.wake[0].recv(4096):
                pass
        while True:
            try:
                flight, future = self.finished.get_nowait()
            except queue.Empty:
                return
            self._answer(flight, future.result())

    def _answer(self, flight: _InFlight, results: list[SendResult]) -> None:
        """A request ended: its slot is free, its answers are written in the next round."""
        self.in_flight -= 1
        self.answered += 1
        lane = flight.lane
        lane.free += 1
        ms = (time.perf_counter() - flight.started) * 1000
        answered = [(row, r if r.latency_ms is not None else dataclasses.replace(r, latency_ms=ms), lane.provider.name)
                    for row, r in results_by_row(flight.ready, results)]
        asked = [result.retry_after or 0.0 for _, result, _ in answered if result.outcome == THROTTLED]
        if asked:
            self.d._pause(lane.provider.name, max(asked))
        self._record(lane, answered, [])

    def _record(self, lane: _Lane, answered: list[tuple], back: list[Transition]) -> None:
        if not answered and not back:
            return
        d, now = self.d, self.d.clock()
        idempotent = lane.provider.request_idempotency
        # a HIGH message (an OTP, retried from the queue) is never sent again after an unknown outcome, as in
        # its API call; only a provider that drops a second copy by its key gets it again (pinned). A 429
        # is a retryable failure like any other (a retry counted), its provider paused besides (`_answer`)
        moved = back + [transition(row, result, name, d.config.retry, now, high=row.priority == "HIGH" and not idempotent,
                                   idempotent=idempotent) for row, result, name in answered]
        self.transitions += moved
        self.attempts += [attempt_row(result, name, now) for _, result, name in answered if name is not None]
        self._count(moved)
        self.stats.by_provider[lane.provider.name] += len(moved)


def _answer_steps(transitions: list[Transition], attempts: list[dict], store: StoreResource) -> list[tuple[list[Transition], list[dict]]]:
    """A round's answers as the steps of its transaction (`writing_in_steps`): on SQLite, groups
    of `ROWS_PER_STATEMENT` messages with their attempts (a HIGH write waits for one group at
    most); elsewhere, where writers do not queue for one lock, all of them in one step."""
    if not transitions and not attempts:
        return []
    if not store.sqlite or len(transitions) <= ROWS_PER_STATEMENT:
        return [(transitions, attempts)]
    groups = [transitions[i:i + ROWS_PER_STATEMENT] for i in range(0, len(transitions), ROWS_PER_STATEMENT)]
    group_of = {t.message_id: n for n, group in enumerate(groups) for t in group}
    by_group: list[list[dict]] = [[] for _ in groups]
    for attempt in attempts:  # an attempt goes with its message's answer (the last group if none)
        by_group[group_of.get(attempt["message_id"], len(groups) - 1)].append(attempt)
    return list(zip(groups, by_group, strict=True))


def unsendable(message: Outgoing) -> str:
    """Why a stored message cannot be put on the wire ('' when it can): text a request cannot
    encode (a lone surrogate) or a line break in an email subject (header injection).
    Validation refuses these at submission; this keeps a row that got in anyway from making
    the provider call raise."""
    fields = {"recipient": message.recipient, "body": message.body, "subject": message.subject, "html": message.html, "title": message.title,
              **{f"data.{k}": v for k, v in (message.data or {}).items()}}
    for name, value in fields.items():
        if isinstance(value, str) and lone_surrogate(value) is not None:
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
    """One request to `provider`, the send step of HIGH sends: `mark` (`mark(provider_name,
    [(id, lease_until)])` -> the ids still ours) commits the messages of `ready` ((row, message)
    pairs) in flight first, only those still ours leave, and each gets its answer (retryable
    when the provider gave none)."""
    if not ready:
        return []
    ours = mark(provider.name, [(row.id, row.lease_until) for row, _ in ready])
    ready = [(row, m) for row, m in ready if row.id in ours]
    if not ready:
        return []
    return results_by_row(ready, call_provider(provider, [m for _, m in ready], timeout))


def results_by_row(ready: Sequence[tuple], results: Sequence[SendResult]) -> list[tuple[object, SendResult]]:
    """(row, its result) for each (row, message) of a request; retryable when the provider gave none."""
    by_id = {r.message_id: r for r in results}
    return [(row, by_id.get(row.id) or SendResult(row.id, RETRYABLE, detail="no result from provider")) for row, _ in ready]


def call_provider(provider: Provider, messages: list[Outgoing], timeout: float | None = None) -> list[SendResult]:
    """The provider's answers, timed; a provider that raises ends the messages `provider_error`
    (the request may have left, so retrying could send them twice)."""
    t0 = time.perf_counter()
    try:
        results = provider.send_batch(messages, timeout)
        asked = provider.take_pause()
    except Exception as exc:  # noqa: BLE001
        return raised(provider, messages, exc)
    ms = (time.perf_counter() - t0) * 1000
    return [throttled(r, asked, r.latency_ms or ms) for r in results]


def provider_result(provider: Provider, message: Outgoing, reply: Reply | tuple[str, str]) -> SendResult:
    """The result of `message` from the answer to its `prepare_one` request (or the transport
    failure that came instead), read by the provider; as `call_provider` gives it."""
    try:
        result = provider.read_one(message, reply)
    except Exception as exc:  # noqa: BLE001
        return raised(provider, [message], exc)[0]
    asked = asked_pause(reply) if isinstance(reply, Reply) else None
    if asked is None and result.retry_after is None:  # `throttled` would make the same result again (its masking again: 1.4 us)
        return result
    return throttled(result, asked, result.latency_ms)


def throttled(result: SendResult, asked: float | None, latency_ms: float | None) -> SendResult:
    """`result` timed; a retryable answer that asked us to wait (429, a 5xx with Retry-After) is a
    throttle, not an error. The pause is the result's own `retry_after` where the provider set it
    (one call of several requests; a throttle its provider read in the body: Vonage's status 1), else `asked`."""
    asked = result.retry_after if result.retry_after is not None else asked
    return SendResult(result.message_id, THROTTLED if asked is not None and result.outcome == RETRYABLE else result.outcome,
                      result.provider_message_id, result.detail, result.http_status, latency_ms, asked)


def raised(provider: Provider, messages: Sequence[Outgoing], exc: Exception) -> list[SendResult]:
    """The results of messages whose provider call raised: `provider_error`, not re-sent."""
    # the type only: an exception's text can carry the recipient or the content
    log.error("provider %s raised %s for %d message(s); recorded as provider_error, not re-sent", provider.name, type(exc).__name__, len(messages))
    return [SendResult(m.id, PERMANENT, detail=f"the provider call raised {type(exc).__name__}; not re-sent") for m in messages]
