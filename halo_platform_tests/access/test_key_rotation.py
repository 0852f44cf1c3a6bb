"""Rotating an API key without a refused request (review 19): one active key per name meant a
rotation was revoke-then-create (the partner's requests refused until it deployed the new key) or
a new name (its `created_by`, rate and audit trail split). `halo keys rotate NAME` replaces the
active key with a new one of the same name, scopes and rate; the replaced key works for the
overlap, and the status webhooks of what it sends are signed with its own secret."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access.keys import (
    check_key,
    create_key,
    keys_t,
    list_keys,
    revoke_key,
    rotate_key,
    webhook_secret_of,
)
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.delivery.tables import Message
from halo_platform_tests.test_spec_review_5 import halo


def test_the_cli_rotates_a_key_and_both_work_for_the_overlap(halo_env, store) -> None:
    old = create_key(store, "partner", ["messages:send", "messages:read"], rate_per_second=7)
    exit_code, out, err = halo("keys", "rotate", "partner", "--overlap-hours", "2", env=halo_env)
    assert exit_code == 0, err
    new = out.strip()
    assert new.startswith("halo_") and new != old and len(out.splitlines()) == 1  # the key alone on stdout
    assert len(err) == 1 and err[0].startswith("the replaced key of partner works until ")

    for key in (old, new):
        checked = check_key(store, key)
        assert checked.refused is None and checked.name == "partner"
        assert checked.scopes == {"messages:send", "messages:read"} and checked.rate_per_second == 7
    rows = list_keys(store)
    assert [r["name"] for r in rows] == ["partner", "partner"]
    replaced = next(r for r in rows if r["prefix"] == old.split("_")[1])
    until = replaced["expires_at"]
    assert dt.timedelta(hours=1.9) < until - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=2)
    assert next(r for r in rows if r["prefix"] == new.split("_")[1])["expires_at"] is None

    revoke_key(store, "partner")  # the name's active key is the new one
    assert check_key(store, new).refused == "API key revoked" and check_key(store, old).refused is None


def test_no_overlap_ends_the_replaced_key_at_once(store) -> None:
    old = create_key(store, "batch-job", ["tasks:read"])
    new, until = rotate_key(store, "batch-job", overlap_hours=0)
    assert check_key(store, old).refused == "API key expired"
    assert check_key(store, new).name == "batch-job"
    assert until <= dt.datetime.now(dt.UTC)


def test_the_replaced_key_never_outlives_its_own_expiry(store) -> None:
    old = create_key(store, "short", ["tasks:read"], expires=dt.date.today() + dt.timedelta(days=2))
    _, until = rotate_key(store, "short", overlap_hours=24 * 30)
    with store.read() as conn:
        expiries = dict(conn.execute(sa.select(keys_t.c.prefix, keys_t.c.expires_at)).all())
    assert until == expiries[old.split("_")[1]] <= dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert set(expiries.values()) == {until}  # the new key keeps the name's expiry: a rotation is no renewal


@pytest.mark.parametrize("name", ["nobody", "gone"])
def test_only_an_active_key_is_rotated(store, name) -> None:
    create_key(store, "gone", ["tasks:read"])
    revoke_key(store, "gone")
    with pytest.raises(NotFoundError, match=f"no active key named '{name}' to rotate"):
        rotate_key(store, name)
    assert len(list_keys(store)) == 1


@pytest.mark.parametrize("hours", [-1, 24 * 30 + 1, float("nan"), float("inf")])
def test_an_overlap_out_of_range_is_refused_and_changes_nothing(store, hours) -> None:
    key = create_key(store, "ops", ["admin"])
    with pytest.raises(HaloError, match="overlap: a number of hours from 0 to 720"):
        rotate_key(store, "ops", overlap_hours=hours)
    assert check_key(store, key).refused is None and len(list_keys(store)) == 1


def test_the_cli_says_one_line_for_a_name_with_no_active_key(halo_env) -> None:
    exit_code, out, err = halo("keys", "rotate", "nobody", env=halo_env)
    assert exit_code != 0 and out == "" and err == ["error: no active key named 'nobody' to rotate"], err


def test_webhooks_of_what_each_key_sends_are_signed_with_its_own_secret(store, app) -> None:
    """During the overlap the partner's old deployment still sends with the old key, and checks
    the status webhooks with the secret of the key it holds."""
    old = create_key(store, "clinic-app", ["messages:send"])
    new, _ = rotate_key(store, "clinic-app", overlap_hours=1)
    client = TestClient(app)
    sent = {}
    for key in (old, new):
        answer = client.post("/v1/messages/sms", headers={"Authorization": f"Bearer {key}"},
                             json={"to": "+33612345678", "body": "b", "priority": "LOW", "callback_url": "https://hooks.example.org/h"})
        assert answer.status_code == 202, answer.text
        sent[key] = answer.json()["id"]
    with store.read() as conn:
        signed = dict(conn.execute(sa.select(Message.id, Message.webhook_key)).all())
    assert signed[sent[old]] == old.split("_")[1] and signed[sent[new]] == new.split("_")[1]
    with store.read() as conn:
        secrets_ = dict(conn.execute(sa.select(keys_t.c.prefix, keys_t.c.webhook_secret)).all())
    assert secrets_[old.split("_")[1]] == webhook_secret_of(old) != secrets_[new.split("_")[1]]


def test_the_cli_revokes_the_replaced_key_by_its_prefix_during_the_overlap(halo_env, store) -> None:
    """A leaked key is rotated away, and its holder keeps sending with it for the overlap (24 h by
    default). `halo keys revoke NAME` revokes the name's active key, the new one; the CLI had no way
    to name the replaced key (only the Access page's row button did), so an operator without the
    Control Center could not stop the leaked key before the overlap ended. `--prefix` names it as
    `halo keys list` shows it (`halo_<prefix>_…`), and revokes that key alone."""
    old = create_key(store, "partner", ["messages:send"])
    new, _ = rotate_key(store, "partner", overlap_hours=24)
    old_prefix = old.split("_")[1]
    exit_code, out, err = halo("keys", "revoke", "partner", "--prefix", f"halo_{old_prefix}_…", env=halo_env)
    assert (exit_code, out, err) == (0, f"revoked partner (halo_{old_prefix}_…)\n", []), err
    assert check_key(store, old).refused == "API key revoked" and check_key(store, new).refused is None
    revoked_by = {r["prefix"]: r["revoked_by"] for r in list_keys(store)}
    assert revoked_by[old_prefix].startswith("cli:") and revoked_by[new.split("_")[1]] is None

    exit_code, out, err = halo("keys", "revoke", "partner", "--prefix", old_prefix, env=halo_env)  # the bare prefix names it too
    assert exit_code != 0 and out == "" and err == [f"error: no key named 'partner' with prefix halo_{old_prefix}_… to revoke"], err
    assert check_key(store, new).refused is None


def test_halo_demo_leaves_one_working_demo_key_the_one_it_prints(halo_env, store) -> None:
    """`halo demo` revoked the demo's active key alone: the keys a rotation had replaced (`halo keys
    rotate demo`, twice here) kept working for their overlap beside the new one, so a demo key
    printed earlier, perhaps pasted somewhere, still sent SMS. Every demo key that still works is
    revoked, in the transaction that makes the new one: the key printed is the only one left."""
    exit_code, out, err = halo("demo", env=halo_env)
    assert exit_code == 0, err
    printed = re.search(r"^demo API key .*: (\S+)$", out, re.M).group(1)
    earlier = [printed, rotate_key(store, "demo", overlap_hours=24)[0], rotate_key(store, "demo", overlap_hours=24)[0]]
    assert [check_key(store, key).refused for key in earlier] == [None, None, None]

    exit_code, out, err = halo("demo", env=halo_env)
    assert exit_code == 0, err
    printed = re.search(r"^demo API key .*: (\S+)$", out, re.M).group(1)
    assert [check_key(store, key).refused for key in earlier] == ["API key revoked"] * 3
    assert check_key(store, printed).refused is None
    assert {r["prefix"]: r["revoked_by"] for r in list_keys(store) if r["name"] == "demo"} == {
        printed.split("_")[1]: None, **{key.split("_")[1]: "halo demo" for key in earlier}}


def test_both_keys_of_a_rotation_draw_from_one_bucket_the_names(store) -> None:
    """Each key kept its own token bucket, so during a rotation's overlap (24 h by default) the
    name's caller was let through twice its rate, the old key's and the new key's, and a rotation
    handed a drained caller a full bucket. The rate belongs to the name, not to its secret: the
    replaced key draws from the bucket of its name's active key, which a rotation hands over as it
    is. Each key's own last use is still recorded (who still holds the old one shows in the list)."""
    old = create_key(store, "partner", ["admin"], rate_per_second=5)
    assert sum(check_key(store, old).retry_after is None for _ in range(10)) == 5  # drained
    new, _ = rotate_key(store, "partner", overlap_hours=24)
    assert check_key(store, new).retry_after is not None and check_key(store, old).retry_after is not None

    time.sleep(1.1)  # the bucket fills again (5 tokens)
    started = time.monotonic()
    answers = [check_key(store, key) for _ in range(50) for key in (old, new)]
    elapsed = time.monotonic() - started
    admitted = sum(a.retry_after is None for a in answers)
    assert 5 <= admitted <= 5 + 5 * elapsed + 1, (admitted, elapsed)  # one bucket of 5 and what refilled meanwhile
    used = {r["prefix"]: r["last_used_at"] for r in list_keys(store)}
    assert used[old.split("_")[1]] is not None and used[new.split("_")[1]] is not None
