"""A busy key costs one write per batch of requests, not one per request, and batching never
delays a revocation or lets a key past its rate."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from halo_platform.access.keys import BATCH_SECONDS, check_key, create_key, keys_t, revoke_key
from halo_platform.core.write_lock import writing


def bucket(store, name: str) -> float:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.select(keys_t.c.bucket_tokens).where(keys_t.c.name == name, keys_t.c.revoked_at.is_(None))).scalar_one()


def test_a_busy_key_takes_its_tokens_from_the_shared_bucket_a_batch_at_a_time(store) -> None:  # noqa: ANN001
    key = create_key(store, "busy", ["admin"], rate_per_second=200)
    batch = int(200 * BATCH_SECONDS)
    assert all(check_key(store, key).name == "busy" for _ in range(batch))
    assert 200 - batch <= bucket(store, "busy") < 200 - batch + 5  # one write took the whole batch (plus a little refill)
    check_key(store, key)  # the batch is spent: the next request takes another
    assert bucket(store, "busy") < 200 - batch


def test_a_held_batch_does_not_delay_a_revocation(store) -> None:  # noqa: ANN001
    key = create_key(store, "held", ["admin"], rate_per_second=1000)
    assert check_key(store, key).name == "held"  # this process now holds 99 tokens of it
    revoke_key(store, "held")
    assert check_key(store, key).refused == "API key revoked"


def test_batches_never_let_a_key_past_its_bucket(store) -> None:  # noqa: ANN001
    key = create_key(store, "tight", ["admin"], rate_per_second=50)
    started = time.monotonic()
    answers = [check_key(store, key) for _ in range(200)]
    elapsed = time.monotonic() - started
    admitted = sum(a.retry_after is None for a in answers)
    assert 50 <= admitted <= 50 + 50 * elapsed + 1, (admitted, elapsed)  # the burst of 50 and what refilled meanwhile


def test_a_refill_that_waited_for_the_row_never_counts_the_bucket_back_in_time(store) -> None:  # noqa: ANN001
    """Another worker holds the key's row 0.3 s and counts its bucket at the end; a refill that read
    the clock before waiting wrote that earlier time back, and the next refill counted the 0.3 s a
    second time (up to a second of the rate let through twice)."""
    key = create_key(store, "shared", ["admin"], rate_per_second=50)
    locked, counted = threading.Event(), []

    def other_worker() -> None:
        with writing(store, priority=True) as conn:
            conn.execute(sa.select(keys_t.c.id).where(keys_t.c.name == "shared").with_for_update()).first()
            locked.set()
            time.sleep(0.3)
            counted.append(time.time())
            conn.execute(keys_t.update().where(keys_t.c.name == "shared").values(bucket_tokens=3.0, bucket_at=counted[0]))

    thread = threading.Thread(target=other_worker)
    thread.start()
    locked.wait(5)
    assert check_key(store, key).name == "shared"  # waited for the row, then took what the other left
    thread.join(5)
    with store.read() as conn:
        assert conn.execute(sa.select(keys_t.c.bucket_at).where(keys_t.c.name == "shared")).scalar_one() >= counted[0]
