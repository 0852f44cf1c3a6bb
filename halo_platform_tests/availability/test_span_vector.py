"""Property: the vectorized span computation of the bulk path (`span_vector.day_spans`, fed by
`span_store.calendars`) gives exactly the spans of the pure Python oracle
(`ProviderCalendar.spans`) for every provider-date: random weekly templates with overnight and
empty intervals, zones with DST of one hour, of half an hour (Australia/Lord_Howe) and none
(Asia/Kolkata), dates around the 2027 transitions, blocks in UTC and in local wall time (ending at
a wall time, or a duration after their start) that overlap, touch, are empty or reach far outside
the dates asked for."""

import datetime as dt
from collections import defaultdict
from unittest import mock

import hypothesis.strategies as st
import numpy as np
from hypothesis import example, given, settings

from halo_platform.availability import span_vector
from halo_platform.availability.span_store import calendars
from halo_platform.availability.span_vector import day_spans
from halo_platform.availability.spans import calendar_from_rows

TZS = ["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
# 2027 transitions: US 03-14 and 11-07, EU 03-28 and 10-31, Lord Howe 04-04 (back 30 min) and 10-03 (forward 30 min)
TRANSITIONS = [dt.date(2027, 3, 14), dt.date(2027, 3, 28), dt.date(2027, 4, 4), dt.date(2027, 10, 3), dt.date(2027, 10, 31),
               dt.date(2027, 11, 7)]
_EPOCH = dt.datetime(1970, 1, 1)

minute = st.one_of(st.integers(0, 95).map(lambda i: i * 15), st.integers(0, 1439))  # a grid (touching) or anywhere
template_row = st.tuples(st.integers(0, 6), minute, minute)  # (weekday, start, end); end <= start runs past midnight
every_day = st.lists(st.tuples(minute, minute), min_size=1, max_size=3).map(lambda ivs: [(d, s, e) for d in range(7) for s, e in ivs])


@st.composite
def blocks_near(draw, first: dt.date, days: int) -> list[tuple[int, int, bool, bool]]:
    """Blocks as stored: seconds since 1970, UTC instants or (is_local) provider wall times, of
    which the end_elapsed ones end `end - start` seconds after their start's instant."""
    out = []
    for _ in range(draw(st.integers(0, 8))):
        day = first + dt.timedelta(days=draw(st.integers(-2, days + 1)))
        start = int((dt.datetime.combine(day, dt.time()) - _EPOCH).total_seconds()) + 60 * draw(minute)
        length = draw(st.one_of(st.sampled_from([0, 15, 30, 60, 90, 240, 1440]).map(lambda m: m * 60),
                                st.integers(-3600, 3 * 86400), st.just(400 * 86400)))
        local = draw(st.booleans())
        out.append((start, start + length, local, local and draw(st.booleans())))
    return out


@st.composite
def case(draw):
    first = draw(st.sampled_from(TRANSITIONS)) + dt.timedelta(days=draw(st.integers(-3, 2)))
    days = draw(st.integers(1, 6))
    providers = {}
    for p in range(draw(st.integers(1, 4))):
        tz = draw(st.one_of(st.sampled_from(TZS), st.none()))
        hours = draw(st.one_of(every_day, st.lists(template_row, min_size=0 if p else 1, max_size=8)))  # every day: blocks hit work often
        asked = sorted(draw(st.sets(st.integers(0, days - 1), min_size=1)))
        providers[f"P{p}"] = (tz, hours, draw(blocks_near(first, days)), [first + dt.timedelta(days=d) for d in asked])
    return providers


def oracle_and_vector(providers: dict) -> tuple[list, list]:
    with_hours = [p for p, (_, hours, _, _) in providers.items() if hours]
    hours = {p: providers[p][1] for p in with_hours}
    tz_of = {p: providers[p][0] for p in with_hours if providers[p][0]}
    rows = [(p, *block, False)[:5] for p in providers for block in providers[p][2]]  # (s, e, local[, elapsed])
    who = [i for i, p in enumerate(with_hours) for _ in providers[p][3]]
    when = [d.toordinal() for p in with_hours for d in providers[p][3]]
    group, start, end = day_spans(calendars(with_hours, hours, tz_of, rows), np.array(who, np.int64), np.array(when, np.int64))
    vector = [(with_hours[who[g]], dt.date.fromordinal(when[g]), s, e) for g, s, e in zip(group.tolist(), start.tolist(), end.tolist(), strict=True)]
    expected = []
    for p in with_hours:
        cal = calendar_from_rows(tz_of.get(p), hours[p], providers[p][2])
        expected.extend((p, day, s, e) for day in providers[p][3] for s, e in cal.spans(day))
    return expected, vector


def hm(h: int, m: int = 0) -> int:
    return h * 60 + m


def wall(day: dt.date, h: int, m: int = 0) -> int:
    return int((dt.datetime.combine(day, dt.time(h, m)) - _EPOCH).total_seconds())


SPRING_EU, FALL_US, LORD_HOWE_FORWARD = dt.date(2027, 3, 28), dt.date(2027, 11, 7), dt.date(2027, 10, 3)


@settings(max_examples=400, deadline=None)
@given(providers=case())
# a working interval inside the spring-forward gap ends before it starts once resolved: it drops
@example(providers={"P0": ("Europe/Paris", [(6, hm(2, 30), hm(3)), (6, hm(1), hm(4))], [], [SPRING_EU])})
# an overnight interval across the fall-back hour, the next day cut by it, a local block in the repeated hour
@example(providers={"P0": ("America/New_York", [(5, hm(22), hm(6)), (6, hm(5), hm(12))],
                           [(wall(FALL_US, 1, 30), wall(FALL_US, 2), True)], [FALL_US - dt.timedelta(days=1), FALL_US])})
# Lord Howe's half-hour gap; touching and overlapping blocks, one UTC and one local
@example(providers={"P0": ("Australia/Lord_Howe", [(6, hm(1, 45), hm(2, 15)), (6, hm(2, 15), hm(9))],
                           [(wall(LORD_HOWE_FORWARD, 3), wall(LORD_HOWE_FORWARD, 4), True),
                            (wall(LORD_HOWE_FORWARD, 4) - 11 * 3600, wall(LORD_HOWE_FORWARD, 5) - 11 * 3600, False)],
                           [LORD_HOWE_FORWARD])})
# a local start and a duration across the spring-forward gap, and one starting in the gap
@example(providers={"P0": ("America/New_York", [(6, hm(0), hm(6))], [(wall(dt.date(2027, 3, 14), 1, 30), wall(dt.date(2027, 3, 14), 3, 30), True, True),
                                                                    (wall(dt.date(2027, 3, 14), 2, 30), wall(dt.date(2027, 3, 14), 3), True, True)],
                           [dt.date(2027, 3, 14)])})
# two zones, a local block each: each wall time is resolved in its own provider's zone
@example(providers={p: (tz, [(0, hm(9), hm(17))], [(wall(dt.date(2027, 3, 29), 12), wall(dt.date(2027, 3, 29), 13), True)],
                        [dt.date(2027, 3, 29)]) for p, tz in (("P0", "Asia/Kolkata"), ("P1", "Europe/Paris"))})
def test_vectorized_spans_equal_the_python_oracle_for_every_provider_date(providers):
    expected, vector = oracle_and_vector(providers)
    assert vector == expected


def test_a_provider_without_timezone_or_hours_has_no_spans_and_the_others_keep_theirs():
    """Providers that yield nothing must not shift the rows of the others (indices stay aligned)."""
    day = dt.date(2027, 3, 29)
    providers = {"A": (None, [(0, hm(9), hm(17))], [], [day]), "B": ("Asia/Kolkata", [], [], [day]),
                 "C": ("Asia/Kolkata", [(0, hm(9), hm(17))], [(wall(day, 12), wall(day, 13), True)], [day])}
    expected, vector = oracle_and_vector(providers)
    per_provider = defaultdict(list)
    for p, *span in vector:
        per_provider[p].append(span)
    assert vector == expected
    assert list(per_provider) == ["C"]
    assert [(s - wall(day, 0)) / 3600 for _, s, _ in per_provider["C"]] == [9 - 5.5, 13 - 5.5]


@settings(max_examples=200, deadline=None)
@given(providers=case())
def test_vectorized_spans_equal_the_python_oracle_with_every_wall_time_ranked_by_table(providers):
    """The property's cases are too small for `unique_inverse`'s table (keys on a grid of fewer
    points than `_DENSE` times their count, as a feed's are): with the bound lifted, they all take it."""
    with mock.patch.object(span_vector, "_DENSE", 1 << 40):
        expected, vector = oracle_and_vector(providers)
    assert vector == expected


@given(keys=st.one_of(st.lists(st.integers(-40, 40), max_size=300), st.lists(st.integers(-(1 << 60), 1 << 60), max_size=30),
                      st.lists(st.sampled_from([0, 1, 1 << 40]), max_size=30),
                      st.lists(st.integers(0, 60).map(lambda i: 1_796_500_000 + 900 * i), max_size=300),
                      st.lists(st.integers(-(1 << 63), (1 << 63) - 1), max_size=30)))
@example(keys=[-5, (1 << 63) - 1])
def test_unique_inverse_ranks_keys_as_numpy_unique_does_by_table_or_by_sort(keys):
    """Empty, one key, repeated keys, keys close together or on a grid far from 0 (the table), and
    far apart (the sort), as far as int64 goes: keys more than 2**63 apart had their offsets from
    the smallest wrap around (-5 and 2**63 - 1 were one key)."""
    keys = np.array(keys, np.int64)
    distinct, where = span_vector.unique_inverse(keys)
    expected_distinct, expected_where = np.unique(keys, return_inverse=True)
    assert distinct.tolist() == expected_distinct.tolist()
    assert where.tolist() == expected_where.tolist()
