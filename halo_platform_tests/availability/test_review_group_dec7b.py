"""Group availability against /v1/availability (emr.md, Group availability and Semantics): a
night shift past midnight belongs to the date it starts on, so a group over one provider is that
provider's spans for the same from/to, whole (REST's `mode` in any case: test_review_group_mode_dec7b)."""
# ruff: noqa: F811 - dst_spans, imported from test_review_slots25, is a test's argument

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_platform.availability import service
from halo_platform.availability.slots import joined
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.availability.test_review_group_dec7 import graphql, hours, rest
from halo_platform_tests.availability.test_review_slots25 import AS_OF, CITIES, days_in, dst_spans, every_span  # noqa: F401 - a fixture
from halo_platform_tests.fixtures.access import authorized_client

MONDAY = "2027-03-01"  # no DST change in Europe before 2027-03-28


@pytest.fixture
def nights(any_store, halo_env):
    """P (Paris, +1) works Sunday and Monday 20:00-02:00: Sunday's night ends Monday 01:00Z,
    Monday's runs 19:00Z Monday to 01:00Z Tuesday. Q (UTC) works Monday 22:00-02:00."""
    land("acme", "hours.jsonl", hours("P", "Europe/Paris", {"sun": [["20:00", "02:00"]], "mon": [["20:00", "02:00"]]})
         + hours("Q", "UTC", {"mon": [["22:00", "02:00"]]}))
    process(any_store, "2027-02-27", 6)
    return authorized_client(create_app({"store": any_store}), "availability:read")


def group(client, ids: str, mode: str, first: str = MONDAY, last: str = MONDAY) -> list[tuple]:  # noqa: ANN001
    return rest(client, ids, mode, first, last)


@pytest.mark.parametrize("mode", ["any", "all"])
def test_a_group_of_one_is_that_providers_spans_for_the_same_dates_whole_past_midnight(nights, mode):
    """Monday's night is Monday's, whole to 01:00Z Tuesday; Sunday's night, though it runs into
    Monday local time, is not. The group was clipped to Paris's Monday at midnight instead: 19:00Z
    to 23:00Z, after a piece of Sunday's night (23:00Z Sunday to 01:00Z Monday)."""
    own = nights.get("/v1/availability", params={"feed": "acme", "provider_id": "P", "from": MONDAY, "to": MONDAY}).json()["spans"]
    assert [(s["start_at"], s["end_at"]) for s in own] == [("2027-03-01T19:00:00Z", "2027-03-02T01:00:00Z")]
    assert group(nights, "P", mode) == [(s["start_at"], s["end_at"], "P") for s in own]
    assert graphql(nights, "P", mode, MONDAY, MONDAY) == group(nights, "P", mode)
    # Sunday alone: its whole night, ending on Monday
    assert group(nights, "P", mode, "2027-02-28", "2027-02-28") == [("2027-02-28T19:00:00Z", "2027-03-01T01:00:00Z", "P")]


def test_a_group_of_two_nights_is_built_from_each_ones_spans_of_those_dates(nights):
    """`any` lists who is free over each one's Monday night, not P's Sunday night; `all` is when
    both are: past either's midnight."""
    assert group(nights, "P,Q", "any") == graphql(nights, "P,Q", "any", MONDAY, MONDAY) == [
        ("2027-03-01T19:00:00Z", "2027-03-01T22:00:00Z", "P"),
        ("2027-03-01T22:00:00Z", "2027-03-02T01:00:00Z", "P,Q"),
        ("2027-03-02T01:00:00Z", "2027-03-02T02:00:00Z", "Q")]
    assert group(nights, "Q,P", "all") == graphql(nights, "Q,P", "all", MONDAY, MONDAY) == [("2027-03-01T22:00:00Z", "2027-03-02T01:00:00Z", "P,Q")]


def test_the_group_answers_freshness_is_availabilitys(nights):
    one = nights.get("/v1/availability", params={"feed": "acme", "provider_id": "P"}).json()["freshness"]
    both = nights.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "P,Q"}).json()["freshness"]
    assert one.keys() == both.keys() and {**one, "lag_seconds": 0} == {**both, "lag_seconds": 0}
    assert abs(one["lag_seconds"] - both["lag_seconds"]) <= 2


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mode=st.sampled_from(["any", "all"]), chosen=st.lists(st.sampled_from([*CITIES, "Nobody"]), min_size=1, max_size=5, unique=True),
       first=days_in, length=st.integers(0, 3))
def test_group_availability_is_built_from_each_ones_spans_of_those_dates(dst_spans, mode, chosen, first, length):
    """Nights past midnight and clock changes (test_review_slots25's providers), time cut at every
    span's ends. A piece is held by a span of one of them dated in [from, to]; it lists who is free
    then (a span of any date): `any` when one is, `all` when every one is. One provider: its spans
    of those dates (touching ones joined), in either mode."""
    day, last = AS_OF + dt.timedelta(days=first), AS_OF + dt.timedelta(days=first + length)
    dated = {p: [(s.start_at, s.end_at) for s in service.spans(dst_spans, "acme", p, day, last)] for p in chosen}
    free = {p: every_span(dst_spans, p) for p in chosen}
    cuts = sorted({t for pieces in [*dated.values(), *free.values()] for s, e in pieces for t in (s, e)})
    expected: list[tuple] = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        who = tuple(sorted(p for p in chosen if any(s <= lo < e for s, e in free[p])))
        inside = any(s <= lo < e for pieces in dated.values() for s, e in pieces)
        if not who or not inside or (mode == "all" and len(who) < len(chosen)):
            continue
        if expected and expected[-1][1] == lo and expected[-1][2] == who:
            expected[-1] = (expected[-1][0], hi, who)
        else:
            expected.append((lo, hi, who))
    found = service.group_availability(dst_spans, "acme", chosen, mode, day, last)
    assert [(g.start_at, g.end_at, g.provider_ids) for g in found] == expected
    if len(chosen) == 1:
        assert [(s, e) for s, e, _ in expected] == joined(dated[chosen[0]])
