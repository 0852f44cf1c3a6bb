"""Status webhooks, what a round costs: the statements and write transactions per delivered
event on SQLite and PostgreSQL, and the threads a round starts, against a real HTTP receiver on
127.0.0.1."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from halo_platform.delivery.webhooks import backlog, deliver
from halo_platform_tests.delivery.helpers import webhook_receiver
from halo_platform_tests.delivery.test_review_webhooks_9 import api_client, queue_messages


@pytest.fixture
def receiver():  # noqa: ANN201
    with webhook_receiver() as server:
        yield server


def test_a_delivered_event_costs_one_read_and_two_writes(providers_file, any_store, monkeypatch, receiver):
    """Each message's events were read with 2 statements (the events, then their attempts), and its
    claim cost 2 write transactions of its own (taken, released): 3 writes and 2 reads for a
    message of one event. The attempts come with the events, and the claim ends with the last
    attempt's write."""
    client = api_client(providers_file, any_store, monkeypatch)
    queue_messages(client, f"{receiver.url}/hooks", 20)
    seen: Counter[str] = Counter()

    def statement(conn, cursor, text, *args) -> None:  # noqa: ANN001, ANN002, ARG001
        seen[text.lstrip().split(None, 1)[0].upper()] += 1

    def commit(conn) -> None:  # noqa: ANN001
        seen["write transactions" if conn.get_execution_options().get("halo_write") else "read transactions"] += 1

    sa.event.listen(any_store.engine, "before_cursor_execute", statement)
    sa.event.listen(any_store.engine, "commit", commit)
    try:
        assert deliver(any_store, workers=2, max_seconds=30) == {"delivered": 20, "failed": 0, "messages": 20}
    finally:
        sa.event.remove(any_store.engine, "before_cursor_execute", statement)
        sa.event.remove(any_store.engine, "commit", commit)
    assert len(receiver.got) == 20 and backlog(any_store)["events"] == 0
    # per message: its claim, and its attempt with the claim's end; the reads: its events under the
    # claim, the round's 2 (the second finds none due) and the key's secret (once, or by both workers at once)
    assert seen["write transactions"] == 40, seen
    assert 20 + 3 <= seen["SELECT"] <= 20 + 4, seen


def test_a_round_starts_no_thread_per_post(providers_file, halo_store, monkeypatch, receiver):
    """Each POST started a `threading.Timer` for its deadline: a thread per request (5-9 % of the
    workers' time in a round of 2,000). One thread now keeps the deadlines of the round's requests."""
    client = api_client(providers_file, halo_store, monkeypatch)
    queue_messages(client, f"{receiver.url}/hooks", 20)
    started: list[str] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        caller = threading.current_thread()
        if caller is threading.main_thread() or caller.name.startswith("ThreadPoolExecutor"):  # the deliverer's, not the receiver's
            started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    assert deliver(halo_store, workers=2, max_seconds=30)["delivered"] == 20
    assert len(started) <= 3, started  # the 2 workers and the deadlines' thread
