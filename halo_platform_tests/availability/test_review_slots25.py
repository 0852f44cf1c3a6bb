"""Review slots25: bookable slots and group availability against independent oracles written
from the spec, not from the code, over spans at whole seconds (appointments carry seconds),
around DST changes (Paris; Sao Paulo in 2018-19, whose clocks changed at midnight; Lord Howe's
30-minute shift; Cairo's midnight changes), and the HTTP edges of /v1/slots,
/v1/availability/group and /fhir/Slot."""

import bisect
import datetime as dt
import functools
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from halo_platform.availability import service
from halo_platform.availability.group import group_spans
from halo_platform.availability.slots import SlotRules, bookable
from halo_platform.core.errors import HaloError
from halo_platform_tests.availability.helpers import land, process

# (zone, a UTC instant near one of its clock changes)
ZONE_CHANGES = [
    ("Europe/Paris", "2027-03-28T01:00:00"), ("Europe/Paris", "2027-10-31T01:00:00"),
    ("America/Sao_Paulo", "2018-11-04T03:00:00"),  # 00:00 -> 01:00: that midnight never was
    ("America/Sao_Paulo", "2019-02-17T02:00:00"),  # 00:00 -> 23:00 the day before: midnight twice
    ("Australia/Lord_Howe", "2027-04-03T15:00:00"), ("Africa/Cairo", "2024-10-31T21:00:00"),
    ("Asia/Kathmandu", "2027-06-01T00:00:00"), ("UTC", "2027-06-01T00:00:00"),
]


@functools.cache  # the service-level tests ask again for the same stored spans' grid
def aligned_starts(tz: ZoneInfo, lo: dt.datetime, hi: dt.datetime, minutes: int) -> tuple[dt.datetime, ...]:
    """Every instant in [lo, hi) whose local wall-clock time is the local day's start plus a whole
    multiple of `minutes`: each local date's grid written out from its first wall time shown (00:00,
    or 01:00 where the clock skipped midnight), each wall time tried at both folds and kept when
    the zone shows that very wall time at the instant (a wall time in a gap never shows)."""

    def shown(wall: dt.datetime) -> set[dt.datetime]:
        readings = (wall.replace(tzinfo=tz, fold=fold).astimezone(dt.UTC) for fold in (0, 1))
        return {instant for instant in readings if instant.astimezone(tz).replace(tzinfo=None) == wall}

    found = set()
    day = lo.astimezone(tz).date() - dt.timedelta(days=1)
    while day <= hi.astimezone(tz).date() + dt.timedelta(days=1):
        midnight = dt.datetime.combine(day, dt.time())
        first = next(k for k in range(1440) if shown(midnight + dt.timedelta(minutes=k)))
        for k in range(first, 1440, minutes):
            found |= {instant for instant in shown(midnight + dt.timedelta(minutes=k)) if lo <= instant < hi}
        day += dt.timedelta(days=1)
    return tuple(sorted(found))


def oracle_slots(spans, rules: SlotRules, tz: ZoneInfo, now: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """The spec read literally: a start on the local grid, at least the notice after now and less
    than max_days_ahead days after it, whose [start - buffer_before, end + buffer_after) lies
    inside the union of the free spans (the union's pieces written out, then looked up)."""
    duration = dt.timedelta(minutes=rules.duration_minutes)
    union: list[list[dt.datetime]] = []
    for s, e in sorted(spans):
        if union and s <= union[-1][1]:
            union[-1][1] = max(union[-1][1], e)
        else:
            union.append([s, e])
    if not union:
        return []
    out = []
    for start in aligned_starts(tz, union[0][0] - dt.timedelta(days=1), union[-1][1] + dt.timedelta(days=1), rules.alignment_minutes):
        # max_days_ahead days on the local calendar: the same wall-clock time that many dates later
        if not now + dt.timedelta(minutes=rules.min_notice_minutes) <= start < now.astimezone(tz) + dt.timedelta(days=rules.max_days_ahead):
            continue
        need_from, need_to = start - dt.timedelta(minutes=rules.buffer_before), start + duration + dt.timedelta(minutes=rules.buffer_after)
        i = bisect.bisect_right([s for s, _ in union], need_from) - 1
        if i >= 0 and union[i][1] >= need_to:
            out.append((start, start + duration))
    return out


seconds = st.integers(-2 * 86_400, 2 * 86_400)
rules_strategy = st.builds(
    SlotRules, duration_minutes=st.sampled_from([1, 7, 20, 30, 45, 60, 90, 240, 1440]),
    buffer_before=st.sampled_from([0, 0, 5, 13, 60, 1440]), buffer_after=st.sampled_from([0, 0, 5, 17, 60, 1440]),
    min_notice_minutes=st.sampled_from([0, 1, 59, 600, 1439, 1441, 2 * 1440]),
    alignment_minutes=st.sampled_from([1, 7, 15, 25, 40, 45, 50, 60, 90, 105, 1440]), max_days_ahead=st.integers(1, 3))


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONE_CHANGES), rules=rules_strategy, now=seconds,
       raw=st.lists(st.tuples(seconds, st.integers(0, 30 * 3600)), max_size=6))
# a span exactly as long as the slot and its buffers, across Paris's missing hour: one slot, 03:00 CEST
@example(zone=ZONE_CHANGES[0], rules=SlotRules(duration_minutes=30, buffer_before=13, buffer_after=17), now=-86_400, raw=[(-780, 3600)])
# Sao Paulo's day with no midnight: its one day-aligned slot, and its 90-minute grid, from 01:00
@example(zone=ZONE_CHANGES[2], rules=SlotRules(duration_minutes=60, alignment_minutes=1440), now=-86_400, raw=[(-7200, 86_400)])
@example(zone=ZONE_CHANGES[2], rules=SlotRules(duration_minutes=60, alignment_minutes=90), now=-86_400, raw=[(-7200, 86_400)])
# a start exactly max_days_ahead after now is not bookable; one 15 minutes before it is
@example(zone=ZONE_CHANGES[-1], rules=SlotRules(max_days_ahead=1), now=-86_400, raw=[(-3600, 7200)])
def test_bookable_slots_equal_the_grid_oracle_at_whole_seconds_across_clock_changes(zone, rules, now, raw):
    """Spans and now at whole seconds (not minutes) around a change of each zone's clock, buffers
    of nothing to a day, alignments that do not divide an hour or a day."""
    tz, base = ZoneInfo(zone[0]), dt.datetime.fromisoformat(zone[1]).replace(tzinfo=dt.UTC)
    spans = [(base + dt.timedelta(seconds=s), base + dt.timedelta(seconds=s + n)) for s, n in raw if n > 0]
    at = base + dt.timedelta(seconds=now)
    assert list(bookable(spans, rules, tz, at)) == oracle_slots(spans, rules, tz, at)


def oracle_group(spans: dict, mode: str) -> list[tuple[dt.datetime, dt.datetime, tuple[str, ...]]]:
    """Cut time at every span's ends; on each cut piece, who is free is who has a span holding the
    piece's start; pieces with no one (or, under `all`, not everyone) are dropped, and touching
    pieces with the same people are one."""
    cuts = sorted({t for pieces in spans.values() for s, e in pieces if s < e for t in (s, e)})
    out: list[tuple[dt.datetime, dt.datetime, tuple[str, ...]]] = []
    for lo, hi in zip(cuts, cuts[1:], strict=False):
        who = tuple(sorted(p for p, pieces in spans.items() if any(s <= lo < e for s, e in pieces)))
        if not who or (mode == "all" and len(who) != len(spans)):
            continue
        if out and out[-1][1] == lo and out[-1][2] == who:
            out[-1] = (out[-1][0], hi, who)
        else:
            out.append((lo, hi, who))
    return out


GROUP_BASE = dt.datetime(2027, 3, 28, tzinfo=dt.UTC)
pieces = st.lists(st.tuples(st.integers(0, 86_400), st.integers(0, 20_000)), max_size=4)


@settings(max_examples=300, deadline=None)
@given(mode=st.sampled_from(["any", "all"]), count=st.sampled_from([1, 2, 20]), raw=st.lists(pieces, min_size=20, max_size=20),
       shape=st.sampled_from(["random", "identical", "touching", "one empty"]))
@example(mode="all", count=20, raw=[[(3600, 3600)]] * 20, shape="identical")
@example(mode="any", count=2, raw=[[(0, 3600), (3600, 60)]] * 20, shape="touching")
def test_group_spans_equal_the_cut_oracle_for_one_two_and_twenty_providers(mode, count, raw, shape):
    """Spans at whole seconds; every provider the same spans; each provider's spans touching its
    neighbour's (one ends where the next starts); one provider with nothing (`all` is then never)."""
    providers = [f"P{i:02d}" for i in range(count)]
    spans = {}
    for i, p in enumerate(providers):
        chosen = raw[0] if shape == "identical" else raw[i]
        spans[p] = [(GROUP_BASE + dt.timedelta(seconds=s), GROUP_BASE + dt.timedelta(seconds=s + n)) for s, n in chosen]
        if shape == "touching":
            spans[p] = [(GROUP_BASE + dt.timedelta(hours=i), GROUP_BASE + dt.timedelta(hours=i + 1)), *spans[p]]
    if shape == "one empty":
        spans[providers[-1]] = []
    found = [(g.start_at, g.end_at, g.provider_ids) for g in group_spans(spans, mode)]
    assert found == oracle_group(spans, mode)


# Service level: spans processed from acme hours around four clock changes of spring 2027 (Paris
# 03-28 02:00; Beirut 03-28 at midnight; Santiago 04-04, midnight twice; Lord Howe 04-04, half an
# hour), nights across midnight and appointments ending at odd seconds; `now` is put near them.
AS_OF, HORIZON = dt.date(2027, 3, 25), 14
NIGHT = {"Europe/Paris": [["00:00", "02:30"], ["08:00", "12:00"], ["22:00", "00:00"]],
         "Asia/Beirut": [["00:00", "00:00"]], "America/Santiago": [["20:00", "04:00"]],
         "Australia/Lord_Howe": [["01:00", "03:00"], ["09:00", "09:00"]]}
SLOT_TYPES = {"default": {"duration_minutes": 30, "alignment_minutes": 15, "max_days_ahead": 20},
              "t1": {"duration_minutes": 45, "buffer_before": 1440, "alignment_minutes": 7, "max_days_ahead": 3},
              "t2": {"duration_minutes": 1440, "buffer_after": 60, "alignment_minutes": 1440, "max_days_ahead": 12},
              "t3": {"duration_minutes": 20, "buffer_before": 13, "buffer_after": 17, "alignment_minutes": 25,
                     "min_notice_minutes": 1441, "max_days_ahead": 5},
              "t4": {"duration_minutes": 5, "alignment_minutes": 1, "max_days_ahead": 1},
              "t5": {"duration_minutes": 60, "buffer_after": 1440, "alignment_minutes": 45, "max_days_ahead": 9},
              "year": {"min_notice_minutes": 1440, "max_days_ahead": 366},  # a day's notice, up to a year ahead
              "later": {"min_notice_minutes": 10 * 1440, "max_days_ahead": 13}}  # more notice than a default week


@pytest.fixture
def dst_spans(halo_env, store, tmp_path, monkeypatch):
    """Providers named by their zone's city, processed for AS_OF and the HORIZON days after it."""
    import json

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(json.dumps({"feeds": {"acme": {"format": "acme", "slot_rules": {
        "default": SLOT_TYPES["default"], "types": {k: v for k, v in SLOT_TYPES.items() if k != "default"}}}}}))
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    lines = [json.dumps({"type": "hours", "provider": zone.split("/")[1], "tz": zone, "week": dict.fromkeys(week, hours),
                         "updated_at": "2026-11-01T00:00:00Z"}) for zone, hours in NIGHT.items()]
    for n, (provider, start, minutes) in enumerate([("Paris", "2027-03-28T01:10:30", 7), ("Paris", "2027-03-28T10:00:00", 1),
                                                    ("Beirut", "2027-03-28T01:59:59", 2), ("Santiago", "2027-04-03T23:30:00", 31),
                                                    ("Lord_Howe", "2027-04-04T01:45:00", 20)]):
        tz = next(z for z in NIGHT if z.endswith(provider))
        lines.append(json.dumps({"type": "appointment", "action": "upsert", "id": f"A{n}", "provider": provider, "start": start,
                                 "duration_min": minutes, "tz": tz, "status": "booked", "updated_at": "2026-11-20T10:00:00Z"}))
    land("acme", "week.jsonl", "\n".join(lines) + "\n")
    process(store, AS_OF.isoformat(), HORIZON)
    return store


def every_span(store, provider: str) -> list[tuple[dt.datetime, dt.datetime]]:
    return [(s.start_at, s.end_at) for s in service.spans(store, "acme", provider, AS_OF - dt.timedelta(days=1), AS_OF + dt.timedelta(days=HORIZON))]


CITIES = [zone.split("/")[1] for zone in NIGHT]
days_in = st.integers(0, HORIZON - 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provider=st.sampled_from(CITIES), slot_type=st.sampled_from(list(SLOT_TYPES)), first=days_in, length=st.integers(0, 4),
       now=st.integers(-86_400, 10 * 86_400), others=st.lists(st.sampled_from(CITIES), max_size=2, unique=True))
def test_the_slots_the_service_lists_are_the_oracles_over_every_stored_span(dst_spans, provider, slot_type, first, length, now, others):
    """`bookable_slots` reads only a window of span dates around [from, to]: its answer equals the
    oracle's over every span the provider has (and, with `together_with`, when the others are all
    free too), kept to the local start dates asked for."""
    tz = ZoneInfo(next(z for z in NIGHT if z.endswith(provider)))
    others = tuple(o for o in others if o != provider)
    at = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=now)
    day, last = AS_OF + dt.timedelta(days=first), AS_OF + dt.timedelta(days=first + length)
    free = every_span(dst_spans, provider)
    if others:
        free = [(s, e) for s, e, _ in oracle_group({p: every_span(dst_spans, p) for p in (provider, *others)}, "all")]
    rules = SlotRules(**{**SLOT_TYPES["default"], **SLOT_TYPES[slot_type]})
    expected = [(s, e) for s, e in oracle_slots(free, rules, tz, at) if day <= s.astimezone(tz).date() <= last]
    found = service.bookable_slots(dst_spans, "acme", provider, slot_type, day, last, at, others)
    assert found.rules == rules and found.slots == expected


# group availability over these providers: test_review_group_dec7b's oracle


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(now=st.integers(-86_400, 12 * 86_400))
def test_the_next_slot_of_each_provider_and_type_is_the_oracles_first_in_two_weeks(dst_spans, now):
    """`next_available_slots` (refresh_next_slots) reads spans around now only: each row is the
    oracle's first slot over every stored span, starting less than two weeks after now."""
    import sqlalchemy as sa

    from halo_platform.availability.tables import NextAvailableSlot

    at = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=now)
    service.refresh_next_slots(dst_spans, "acme", at)
    expected = {}
    for city in CITIES:
        tz = ZoneInfo(next(z for z in NIGHT if z.endswith(city)))
        for slot_type, rules in SLOT_TYPES.items():
            first = next(iter(oracle_slots(every_span(dst_spans, city), SlotRules(**{**SLOT_TYPES["default"], **rules}), tz, at)), None)
            if first and first[0] < at + dt.timedelta(days=14):
                expected[(city, slot_type)] = first
    t = NextAvailableSlot.__table__
    with dst_spans.read() as conn:
        rows = conn.execute(sa.select(t.c.provider_id, t.c.slot_type, t.c.start_at, t.c.end_at).where(t.c.feed == "acme")).all()
    assert {(p, k): (s.replace(tzinfo=dt.UTC), e.replace(tzinfo=dt.UTC)) for p, k, s, e in rows} == expected


def fhir_range(prefix: str, value: str, tz: ZoneInfo) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[lo, hi) of starts a FHIR R4 date search allows, written from the FHIR rules: a date,
    month or year is the range of its local days, an instant a point (naive: local, a wall time
    in a gap moved forward by it, as the spec's times are); sa as gt and eb as lt on an instant."""
    if "T" in value:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        t = t if t.tzinfo else t.replace(tzinfo=tz)
        point = t + dt.timedelta(microseconds=1)
        return {"eq": (t, point), "ge": (t, None), "gt": (point, None), "sa": (point, None),
                "le": (None, point), "lt": (None, t), "eb": (None, t)}[prefix]
    parts = [int(x) for x in value.split("-")]
    first = dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    after = (first + dt.timedelta(days=1) if len(parts) == 3 else
             dt.date(first.year + first.month // 12, first.month % 12 + 1, 1) if len(parts) == 2 else dt.date(first.year + 1, 1, 1))
    lo, hi = (dt.datetime.combine(d, dt.time(), tzinfo=tz) for d in (first, after))
    return {"eq": (lo, hi), "ge": (lo, None), "gt": (hi, None), "sa": (hi, None), "le": (None, hi), "lt": (None, lo), "eb": (None, lo)}[prefix]


bound = st.tuples(st.sampled_from(["", "eq", "ge", "gt", "le", "lt", "sa", "eb"]),
                  st.one_of(st.integers(-2, HORIZON + 2).map(lambda n: (AS_OF + dt.timedelta(days=n)).isoformat()),
                            st.sampled_from(["2027-03", "2027-04", "2027"]),
                            st.integers(-86_400, (HORIZON + 1) * 86_400).map(
                                lambda n: (dt.datetime.combine(AS_OF, dt.time()) + dt.timedelta(seconds=n * 60 // 60)).isoformat()),
                            st.integers(-86_400, (HORIZON + 1) * 86_400).map(
                                lambda n: (dt.datetime.combine(AS_OF, dt.time()) + dt.timedelta(seconds=n)).isoformat() + "Z")))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(provider=st.sampled_from(CITIES), bounds=st.lists(bound, max_size=3), now=st.integers(-86_400, 10 * 86_400))
@example(provider="Paris", bounds=[("ge", "2027-03-28T02:30:00"), ("lt", "2027-03-28T03:15:00")], now=0)
def test_a_fhir_slot_search_is_the_oracles_slots_in_its_start_range(dst_spans, provider, bounds, now):
    """Every prefix (none is eq) on dates, months, the year, local and UTC instants, naive ones in
    Paris's gap: the Bundle lists the oracle's slots in the range the FHIR rules give (a search with
    no upper bound looks at 7 days from its lower one, or from now), valid R4B."""
    from fhir.resources.R4B.bundle import Bundle

    tz = ZoneInfo(next(z for z in NIGHT if z.endswith(provider)))
    at = dt.datetime.combine(AS_OF, dt.time(), tzinfo=dt.UTC) + dt.timedelta(seconds=now)
    lo = hi = None
    for prefix, value in bounds:
        low, high = fhir_range(prefix or "eq", value, tz)
        lo = max(lo, low, key=dt.datetime.timestamp) if lo and low else lo or low
        hi = min(hi, high, key=dt.datetime.timestamp) if hi and high else hi or high
    lo = lo or at
    hi = hi or lo.astimezone(tz) + dt.timedelta(days=7)  # 7 local days: the same wall-clock time 7 dates later, as max_days_ahead
    rules = SlotRules(**SLOT_TYPES["default"])
    expected = [s for s, _ in oracle_slots(every_span(dst_spans, provider), rules, tz, at) if lo.timestamp() <= s.timestamp() < hi.timestamp()]
    from halo_platform.availability.fhir_api import search_slots

    params = [("schedule", f"Schedule/acme.{provider}"), *(("start", p + v) for p, v in bounds)]
    found = search_slots(dst_spans, params, "http://testserver/fhir/Slot", now=at)
    Bundle.model_validate(found)
    assert [dt.datetime.fromisoformat(e["resource"]["start"]) for e in found.get("entry", ())] == expected[:1000]  # a page
    assert found["total"] == len(expected)



@pytest.mark.parametrize("types", ["t3,", ",t3", "t3,,t4", ",", "|"])
def test_a_service_type_list_with_an_empty_code_is_refused_as_a_status_list_is(dst_spans, types):
    """`service-type=t3,` (a client joining a list that ends empty) answered the default type's
    slots beside t3's, each entry named `default`: an empty token (or a `system|` without a code)
    was read as the default type. A token is never empty: refused, as `status=free,` is (a
    `service-type=` left wholly empty is still the default type, as REST's `type=` is)."""
    from halo_platform.availability.fhir_api import search_slots

    with pytest.raises(HaloError) as refused:
        search_slots(dst_spans, [("schedule", "Schedule/acme.Paris"), ("service-type", types)], "http://testserver/fhir/Slot",
                     now=dt.datetime(2027, 3, 26, tzinfo=dt.UTC))
    assert str(refused.value).startswith("service-type: expected comma-separated appointment types, none of them empty")


def test_a_type_bookable_a_year_ahead_with_a_days_notice_searches_the_days_its_slots_can_start_on(dst_spans):
    """`year` slots start from a day after now (min_notice_minutes 1440) to 366 days after it: 366
    local dates. The days searched were counted from now's own date, 367, past the 366 a query
    takes: `/v1/slots?to=<a year on>` and `start=lt<a year on>` were 422s for a type whose slots
    all fit, and `searched.from` named a day on which none of them can start."""
    from halo_platform.availability.fhir_api import search_slots

    now = dt.datetime(2027, 3, 26, 10, 0, tzinfo=dt.UTC)
    found = service.bookable_slots(dst_spans, "acme", "Paris", "year", now.date(), dt.date(2028, 6, 1), now)
    assert found.searched == (dt.date(2027, 3, 27), dt.date(2028, 3, 26))
    assert found.slots[0][0] == dt.datetime(2027, 3, 27, 10, 0, tzinfo=dt.UTC)  # 11:00 CET, exactly a day after now
    bundle = search_slots(dst_spans, [("schedule", "Schedule/acme.Paris"), ("service-type", "year"), ("start", "lt2028-06-01")],
                          "http://testserver/fhir/Slot", now=now)
    assert bundle["total"] == len(found.slots)
    far = service.bookable_slots(dst_spans, "acme", "Paris", "t3", dt.date(2027, 3, 26), dt.date(2027, 3, 26), now)
    assert far.searched is None  # t3's day of notice puts its first start on 03-27, past the range


D = "2027-03-30"
EDGES = [  # (path, params, status, what the answer says: an error's start, or the slots' count)
    ("/v1/slots", {"provider_id": "Paris", "type": "t3", "from": D, "to": D}, 200, "searched"),
    ("/v1/slots", {"provider_id": "Paris", "type": "surgery"}, 422, "unknown appointment type 'surgery' for acme/Paris; known: default"),
    ("/v1/slots", {"provider_id": "Paris", "from": D, "to": "2027-03-29"}, 422, "to 2027-03-29 is before from 2027-03-30"),
    ("/v1/slots", {"provider_id": "Paris", "type": "t4", "from": "2027-06-01", "to": "2027-06-01"}, 200, "searched"),
    ("/v1/availability/group", {"provider_ids": "Paris,Paris, Paris", "from": D, "to": D}, 200, "Paris"),
    ("/v1/availability/group", {"provider_ids": "Paris,,Beirut"}, 422, "provider_ids: expected a comma-separated list of provider ids, none"),
    ("/v1/availability/group", {"provider_ids": ",".join(f"P{i}" for i in range(21))}, 422, "provider_ids: at most 20 providers, got 21"),
    ("/v1/availability/group", {"provider_ids": ",".join(f"P{i % 20}" for i in range(40)), "mode": "all"}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "start": f"gt{D}"}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "start": f"le{D}"}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "start": D}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "start": f"ap{D}"}, 422, "start: the prefix ap is not supported here"),
    ("/fhir/Slot", {"schedule": "Practitioner/Paris"}, 422, "schedule: expected Schedule/<id>, got 'Practitioner/Paris'"),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Nobody"}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "status": "busy"}, 200, ""),
    ("/fhir/Slot", {"schedule": "Schedule/acme.Paris", "status": "open"}, 422, "status: unknown 'open'"),
]


@pytest.mark.parametrize("path, params, status, said", EDGES)
def test_the_slot_group_and_fhir_edges_answer_or_say_what_is_wrong(dst_spans, path, params, status, said):
    """The brief's hostile inputs over the real app: a correct answer (a FHIR one valid R4B), or a
    4xx JSON body naming the problem; never a 500."""
    from fhir.resources.R4B.bundle import Bundle

    from halo_platform.http import create_app
    from halo_platform_tests.fixtures.access import authorized_client

    client = authorized_client(create_app({"store": dst_spans}), "availability:read")
    answer = client.get(path, params={**({} if path == "/fhir/Slot" else {"feed": "acme"}), **params})
    body = answer.json()
    assert answer.status_code == status, body
    if status >= 400:
        assert body["error"].startswith(said), body
    elif path == "/fhir/Slot":
        assert Bundle.model_validate(body).total == len(body.get("entry", ()))
    else:
        assert said in answer.text


def test_a_type_with_more_notice_than_the_default_week_lists_its_first_bookable_week(dst_spans):
    """Asked without dates, `/v1/slots` (and GraphQL, the CLI) looked at the provider's today and the
    6 days after, and a FHIR search without `start` at the 7 days from now: a type booked 10 days
    ahead at the least (a surgery's notice) always answered no slot and `searched: null`. The
    default week now opens where the type's notice ends; the FHIR one where the least notice of
    the types asked ends."""
    from halo_platform.availability.fhir_api import search_slots

    now = dt.datetime.combine(AS_OF, dt.time(12), tzinfo=dt.UTC)
    opens = now + dt.timedelta(days=10)
    found = service.bookable_slots(dst_spans, "acme", "Paris", "later", now=now)
    assert found.searched == (opens.astimezone(ZoneInfo("Europe/Paris")).date(), (now + dt.timedelta(days=13)).date())
    assert found.slots and found.slots[0][0] >= opens
    bundle = search_slots(dst_spans, [("schedule", "Schedule/acme.Paris"), ("service-type", "later")],
                          "http://testserver/fhir/Slot", now=now)
    assert bundle["total"] == len(found.slots)
    both = search_slots(dst_spans, [("schedule", "Schedule/acme.Paris"), ("service-type", "later,default")],
                        "http://testserver/fhir/Slot", now=now)
    assert min(e["resource"]["start"] for e in both["entry"]) < opens.isoformat()  # the least notice opens the week
