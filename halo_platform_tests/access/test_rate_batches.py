"""A busy key costs one write per batch of requests, not one per request, and batching never
delays a revocation or lets a key past its rate."""

from __future__ import annotations

import time

import sqlalchemy as sa

from halo_platform.access.keys import BATCH_SECONDS, check_key, create_key, keys_t, revoke_key


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
