"""Property: for any stream of events (upserts, cancellations, deletes, vacations, working-hours
changes, timezone changes), split into batches arriving in any order with duplicates, the
incrementally maintained spans equal a full recomputation from all events at once, and both equal
an independent oracle built from each item's winning event. Providers sit in Europe/Paris,
America/New_York and Asia/Jakarta, with overnight shifts, around the 2027 DST transitions."""

import datetime as dt
import itertools
import json
from collections import defaultdict

import hypothesis.strategies as st
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings

from halo_platform.availability.feeds import acme
from halo_platform.availability.items import LandedFile, apply_files
from halo_platform.availability.span_store import recompute
from halo_platform.availability.spans import calendar_from_rows, horizon
from halo_platform.core.store import StoreResource

TZS = ["Europe/Paris", "America/New_York", "Asia/Jakarta"]
PROVIDERS = ["P1", "P2", "P3"]
WINDOWS = [(dt.date(2027, 3, 12), 20), (dt.date(2027, 10, 29), 12)]  # spring forward (US 03-14, EU 03-28); fall back (EU 10-31, US 11-07)
VERSIONS = [f"2026-11-{d:02d}T10:00:00Z" for d in range(1, 7)]  # few versions: ties happen
_counter = itertools.count()

minute = st.integers(0, 47).map(lambda i: i * 30)
interval = st.tuples(minute, minute).filter(lambda p: p[0] != p[1] or p[0] == 0)  # end <= start: overnight
week = st.dictionaries(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), st.lists(interval, max_size=2), max_size=7)


def hhmm(m: int) -> str:
    return f"{m // 60:02d}:{m % 60:02d}"


def hours_event(draw, provider: str, version: str) -> str:
    w = draw(week)
    return json.dumps({"type": "hours", "provider": provider, "tz": draw(st.sampled_from(TZS)),
                       "week": {d: [[hhmm(s), hhmm(e)] for s, e in v] for d, v in w.items()}, "updated_at": version})


@st.composite
def event(draw, window_start: dt.date, days: int) -> str:
    kind = draw(st.sampled_from(["appointment"] * 6 + ["vacation"] * 2 + ["hours"]))  # hours changes are rare, as in life
    version = draw(st.sampled_from(VERSIONS))
    provider = draw(st.sampled_from(PROVIDERS))
    if kind == "hours":
        return hours_event(draw, provider, version)
    item = draw(st.sampled_from(["A", "B", "C", "D", "E", "F"]))
    if draw(st.integers(0, 5)) == 0:
        return json.dumps({"type": kind, "action": "delete", "id": item, "updated_at": version})
    day = window_start + dt.timedelta(days=draw(st.integers(-2, days + 1)))
    if kind == "vacation":
        return json.dumps({"type": "vacation", "action": "upsert", "id": item, "provider": provider, "from_date": day.isoformat(),
                           "to_date": (day + dt.timedelta(days=draw(st.integers(0, 2)))).isoformat(), "updated_at": version})
    start = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=draw(minute))
    return json.dumps({"type": "appointment", "action": "upsert", "id": item, "provider": provider, "start": start.isoformat(),
                       "duration_min": draw(st.sampled_from([15, 30, 60, 240])), "tz": draw(st.sampled_from(TZS)),
                       "status": draw(st.sampled_from(["booked", "booked", "cancelled"])), "updated_at": version})


@st.composite
def scenario(draw):
    start, days = draw(st.sampled_from(WINDOWS))
    base = [hours_event(draw, p, VERSIONS[0]) for p in PROVIDERS]
    lines = draw(st.lists(event(start, days), min_size=1, max_size=30))
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=6)))
    batches = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True) if b > a]
    arrival = [base, *draw(st.permutations(batches))]
    replays = draw(st.lists(st.sampled_from(arrival), max_size=2))
    recompute_after = draw(st.lists(st.booleans(), min_size=len(arrival) + len(replays), max_size=len(arrival) + len(replays)))
    return start, days, base + lines, [*arrival, *replays], recompute_after


def spans_table(store: StoreResource, feed: str) -> list[tuple]:
    with store.read() as conn:
        return [tuple(map(str, r)) for r in conn.execute(sa.text(
            "SELECT provider_id, span_date, start_at, end_at FROM available_spans WHERE feed = :f "
            "ORDER BY provider_id, span_date, start_at"), {"f": feed}).fetchall()]


def apply(store: StoreResource, feed: str, name: str, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    with store.write() as conn:
        apply_files(conn, feed, [LandedFile.from_parsed(name, name, acme.parse(data, name))])


def seconds(naive: dt.datetime) -> int:
    return int((naive - dt.datetime(1970, 1, 1)).total_seconds())


def oracle(lines: list[str], as_of: dt.date, days: int) -> list[tuple]:
    """Spans straight from each item's winning event, without the store."""
    best = {}
    for e in acme.parse(("\n".join(lines) + "\n").encode()).events:
        key = (e.version, e.deleted, e.fingerprint)
        if e.item_id not in best or key > best[e.item_id][0]:
            best[e.item_id] = (key, e)
    tz, hours, blocks = {}, defaultdict(list), defaultdict(list)
    for _, e in best.values():
        if e.deleted:
            continue
        for h in e.hours:
            tz[h.provider_id] = e.tz
            hours[h.provider_id].append((h.weekday, h.start_minute, h.end_minute))
        if e.kind == "hours" and not e.hours:
            tz.setdefault(e.item_id.split(":", 1)[1], e.tz)
        for b in e.blocks:
            blocks[b.provider_id].append((seconds(b.start), seconds(b.end), b.local))
    out = []
    epoch = dt.datetime(1970, 1, 1)
    for provider in sorted(hours):
        cal = calendar_from_rows(tz.get(provider), hours[provider], blocks[provider])
        for day in horizon(as_of, days):
            for s, e in cal.spans(day):
                out.append((provider, str(day), str(epoch + dt.timedelta(seconds=s)), str(epoch + dt.timedelta(seconds=e))))
    return sorted(out)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=scenario())
def test_incremental_spans_equal_a_full_recomputation_and_the_oracle_for_any_arrival_order(store, case):
    as_of, days, lines, arrivals, recompute_after = case
    n = next(_counter)
    inc, full = f"inc{n}", f"full{n}"
    for i, batch in enumerate(arrivals):
        apply(store, inc, f"batch{i}.jsonl", batch)
        if recompute_after[i]:
            with store.write() as conn:
                recompute(conn, inc, as_of, days)
    with store.write() as conn:
        recompute(conn, inc, as_of, days)
    apply(store, full, "all.jsonl", lines)
    with store.write() as conn:
        recompute(conn, full, as_of, days)
    incremental, complete = spans_table(store, inc), spans_table(store, full)
    assert incremental == complete
    assert [(p, d, s[:19], e[:19]) for p, d, s, e in complete] == [(p, d, s[:19], e[:19]) for p, d, s, e in oracle(lines, as_of, days)]
    for (p1, _, _, e1), (p2, _, s2, _) in itertools.pairwise(sorted(complete, key=lambda r: (r[0], r[2]))):
        assert p1 != p2 or e1 <= s2, "spans of a provider overlap"
