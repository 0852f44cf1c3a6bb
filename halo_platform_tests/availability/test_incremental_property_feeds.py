"""The property of test_incremental_property.py (incremental == full == oracle, whatever the arrival
order, batching and replays) for the hl7 and fhir feeds, whose items differ from acme's: hl7 working
hours are CSV templates whose rows of one version add up across files, and its appointments' local
times resolve in the template's timezone; fhir practitioners may have several roles (working hours,
timezone, notAvailable), and Slots block the actors of their Schedule. The oracle applies emr.md's
rules to each item's winning event, without the store."""

import datetime as dt
import itertools
import json
import zlib
from collections import defaultdict

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings

from halo_platform.availability.feeds import fhir, hl7
from halo_platform.availability.feeds.base import HOURS, Event
from halo_platform.availability.items import LandedFile, apply_files
from halo_platform.availability.span_store import recompute
from halo_platform.availability.spans import calendar_from_rows, horizon
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.test_incremental_property import (
    PROVIDERS,
    TZS,
    WINDOWS,
    hhmm,
    seconds,
    spans_table,
)

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ISO_VERSIONS = [f"2026-11-{d:02d}T10:00:00Z" for d in range(1, 5)]  # few versions: ties happen
HL7_VERSIONS = [f"202611{d:02d}100000" for d in range(1, 5)]
_counter = itertools.count()
minute = st.integers(0, 47).map(lambda i: i * 30)
interval = st.tuples(minute, minute).filter(lambda p: p[0] != p[1] or p[0] == 0)  # end <= start: overnight


def oracle(events: list[Event], as_of: dt.date, days: int) -> list[tuple]:
    """Spans from each item's winning event (highest version, tombstone, fingerprint); working hours
    of hl7 templates are every row of the item's highest version, in the timezone of the row with
    the greatest fingerprint; a provider's timezone is the one of its newest hours item (of two as
    new, the greater item id); a Slot blocks the actors of its Schedule."""
    best: dict[str, Event] = {}
    for e in events:
        if e.item_id not in best or (e.version, e.deleted, e.fingerprint) > (best[e.item_id].version, best[e.item_id].deleted, best[e.item_id].fingerprint):
            best[e.item_id] = e
    hours, blocks, members, newest = defaultdict(list), defaultdict(list), defaultdict(list), {}
    slots = []
    for item, e in best.items():
        if e.deleted:
            continue
        parts = [x for x in events if x.item_id == item and x.version == e.version] if e.kind == HOURS else [e]
        rows = {(h.provider_id, h.weekday, h.start_minute, h.end_minute) for part in parts for h in part.hours}
        for provider, *row in rows:
            hours[provider].append(tuple(row))
            if e.tz and (provider not in newest or (e.version, item) > newest[provider][1]):
                newest[provider] = (e.tz, (e.version, item))
        for b in e.blocks:
            if b.start is None:
                members[item].append(b.provider_id)
            elif b.ref:
                slots.append(b)
            else:
                blocks[b.provider_id].append((seconds(b.start), seconds(b.end), b.local, b.elapsed))
    for b in slots:
        for provider in members.get(b.ref, []):
            blocks[provider].append((seconds(b.start), seconds(b.end), b.local, b.elapsed))
    out = []
    epoch = dt.datetime(1970, 1, 1)
    for provider in sorted(hours):
        cal = calendar_from_rows(newest.get(provider, (None,))[0], hours[provider], blocks[provider])
        for day in horizon(as_of, days):
            for s, e in cal.spans(day):
                out.append((provider, str(day), str(epoch + dt.timedelta(seconds=s)), str(epoch + dt.timedelta(seconds=e))))
    return sorted(out)


def check(store: StoreResource, feed: str, files_of, case: tuple) -> None:  # noqa: ANN001
    """Apply `case`'s batches incrementally (recomputing when drawn) and all lines at once; compare
    both with each other and with the oracle. `files_of(lines, name)` -> [(file name, bytes)]."""
    as_of, days, lines, arrivals, recompute_after = case
    n = next(_counter)
    inc, full = f"{feed}inc{n}", f"{feed}full{n}"

    def apply(target: str, name: str, batch: list) -> list[Event]:
        files = files_of(batch, name)
        parsed = [(file, (hl7 if feed == "hl7" else fhir).parse(data, file)) for file, data in files]
        with store.write() as conn:
            apply_files(conn, target, [LandedFile.from_parsed(f, f, p, templates=f.endswith(".csv")) for f, p in parsed])
        assert not [r for _, p in parsed for r in p.rejected]
        return [e for _, p in parsed for e in p.events]

    for i, batch in enumerate(arrivals):
        apply(inc, f"batch{i}", batch)
        if recompute_after[i]:
            with store.write() as conn:
                recompute(conn, inc, as_of, days)
    with store.write() as conn:
        recompute(conn, inc, as_of, days)
    events = apply(full, "all", lines)
    with store.write() as conn:
        recompute(conn, full, as_of, days)
    incremental, complete = spans_table(store, inc), spans_table(store, full)
    assert incremental == complete
    assert [(p, d, s[:19], e[:19]) for p, d, s, e in complete] == [(p, d, s[:19], e[:19]) for p, d, s, e in oracle(events, as_of, days)]


@st.composite
def arrivals(draw, base: list, event) -> tuple:  # noqa: ANN001
    start, days = draw(st.sampled_from(WINDOWS))
    lines = draw(st.lists(event(start, days), min_size=1, max_size=20))
    cuts = sorted(draw(st.lists(st.integers(0, len(lines)), max_size=5)))
    batches = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)], strict=True) if b > a]
    arrival = [base(draw), *draw(st.permutations(batches))]
    replays = draw(st.lists(st.sampled_from(arrival), max_size=2))
    recompute_after = draw(st.lists(st.booleans(), min_size=len(arrival) + len(replays), max_size=len(arrival) + len(replays)))
    return start, days, arrival[0] + lines, [*arrival, *replays], recompute_after


# hl7: ("csv", template row) and ("hl7", SIU message); a batch lands as one .csv and one .hl7 file
def template_rows(draw, provider: str, version: str) -> list[tuple[str, str]]:
    tz = draw(st.sampled_from(TZS))
    rows = draw(st.lists(st.tuples(st.sampled_from(DAYS), interval), min_size=1, max_size=3))
    return [("csv", f"{provider},{draw(st.sampled_from([tz, *TZS]))},{day},{hhmm(s)},{hhmm(e)},{version}") for day, (s, e) in rows]


@st.composite
def siu(draw, window_start: dt.date, days: int) -> list[tuple[str, str]]:
    kind = draw(st.sampled_from(["appointment"] * 5 + ["block"] * 2 + ["hours"]))
    provider = draw(st.sampled_from(PROVIDERS))
    if kind == "hours":
        return template_rows(draw, provider, draw(st.sampled_from(ISO_VERSIONS)))
    trigger = draw(st.sampled_from(["S23", "S23", "S24"] if kind == "block" else ["S12", "S13", "S13", "S15", "S17", "S26"]))
    day = window_start + dt.timedelta(days=draw(st.integers(-2, days + 1)))
    start = dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=draw(minute))
    end = start + dt.timedelta(minutes=draw(st.sampled_from([15, 30, 60, 240, 1500])))
    offset = draw(st.sampled_from(["", "", "+0100", "-0500"]))
    others = draw(st.lists(st.sampled_from(PROVIDERS), max_size=1))
    message = "\r".join([
        f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|{draw(st.sampled_from(HL7_VERSIONS))}||SIU^{trigger}^SIU_{trigger}|1|P|2.5",
        f"SCH|P1|{draw(st.sampled_from('ABCDEF'))}^EMR",
        f"TQ1|1||||||{start:%Y%m%d%H%M}{offset}|{end:%Y%m%d%H%M}{offset}",
        f"AIP|1||{'~'.join(dict.fromkeys([provider, *others]))}"])
    return [("hl7", message)]


def hl7_files(lines: list, name: str) -> list[tuple[str, bytes]]:
    flat = [x for group in lines for x in group]
    rows, messages = [t for k, t in flat if k == "csv"], [t for k, t in flat if k == "hl7"]
    files = [(f"{name}.csv", ("provider_id,timezone,weekday,start,end,version\n" + "\n".join(rows) + "\n").encode())] if rows else []
    return files + ([(f"{name}.hl7", "\n".join(messages).encode())] if messages else [])


def hl7_base(draw) -> list:  # noqa: ANN001
    return [template_rows(draw, p, ISO_VERSIONS[0]) for p in PROVIDERS]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=arrivals(hl7_base, siu))
def test_hl7_incremental_spans_equal_a_full_recomputation_and_the_oracle_for_any_arrival_order(store, case):
    check(store, "hl7", hl7_files, case)


# fhir: one resource per line
def fhir_role(draw, provider: str, version: str) -> str:
    times = draw(st.lists(st.tuples(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3, unique=True), interval), max_size=2))
    absences = draw(st.lists(st.sampled_from(["2027-03-14", "2027-03-28", "2027-10-31", "2027-11-01"]), max_size=1))
    return json.dumps({
        "resourceType": "PractitionerRole", "id": f"{provider}-{draw(st.sampled_from('ab'))}", "meta": {"lastUpdated": version},
        "practitioner": {"reference": f"Practitioner/{provider}"},
        "extension": [{"url": fhir.TIMEZONE_EXTENSION, "valueCode": draw(st.sampled_from(TZS))}],
        "availableTime": [{"daysOfWeek": d, "availableStartTime": f"{hhmm(s)}:00", "availableEndTime": f"{hhmm(e)}:00"} for d, (s, e) in times],
        "notAvailable": [{"description": "away", "during": {"start": f"{day}T06:00:00", "end": f"{day}T14:00:00"}} for day in absences]})


@st.composite
def resource(draw, window_start: dt.date, days: int) -> str:
    kind = draw(st.sampled_from(["Appointment"] * 5 + ["Slot"] * 2 + ["Schedule", "PractitionerRole"]))
    version = draw(st.sampled_from(ISO_VERSIONS))
    if kind == "PractitionerRole":
        return fhir_role(draw, draw(st.sampled_from(PROVIDERS)), version)
    meta = {"id": draw(st.sampled_from("ABCD")), "meta": {"lastUpdated": version}}
    if kind == "Schedule":
        actors = draw(st.lists(st.sampled_from(PROVIDERS), max_size=2, unique=True))
        return json.dumps({"resourceType": "Schedule", **meta, "actor": [{"reference": f"Practitioner/{p}"} for p in actors]})
    day = window_start + dt.timedelta(days=draw(st.integers(-2, days + 1)))
    start = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(minutes=draw(minute))
    end = start + dt.timedelta(minutes=draw(st.sampled_from([15, 30, 60, 240, 1500])))
    times = {"start": start.isoformat(), "end": end.isoformat()}
    if kind == "Slot":
        return json.dumps({"resourceType": "Slot", **meta, "schedule": {"reference": f"Schedule/{draw(st.sampled_from('ABCD'))}"},
                           "status": draw(st.sampled_from(["busy-unavailable", "busy-unavailable", "free"])), **times})
    return json.dumps({"resourceType": "Appointment", **meta, "status": draw(st.sampled_from(["booked", "booked", "cancelled", "noshow"])),
                       **times, "participant": [{"actor": {"reference": f"Practitioner/{draw(st.sampled_from(PROVIDERS))}"}}]})


def fhir_files(lines: list, name: str) -> list[tuple[str, bytes]]:
    return [(f"{name}.ndjson", ("\n".join(lines) + "\n").encode())]


def fhir_base(draw) -> list:  # noqa: ANN001
    return [fhir_role(draw, p, ISO_VERSIONS[0]) for p in PROVIDERS]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=arrivals(fhir_base, resource))
def test_fhir_incremental_spans_equal_a_full_recomputation_and_the_oracle_for_any_arrival_order(store, case):
    check(store, "fhir", fhir_files, case)


def test_the_oracle_takes_a_template_timezone_from_its_greatest_fingerprint_row():
    """The oracle's own rule, pinned: rows of one version in two files, the timezone of the row with the greatest checksum."""
    rows = ["P1,Europe/Paris,mon,09:00,10:00,2026-11-01T10:00:00Z", "P1,Asia/Jakarta,mon,11:00,12:00,2026-11-01T10:00:00Z"]
    events = [e for n, row in enumerate(rows) for e in hl7.parse(f"provider_id,timezone,weekday,start,end,version\n{row}\n".encode(), f"{n}.csv").events]
    winner = max(rows, key=lambda r: zlib.crc32(r.encode())).split(",")[1]
    found = oracle(events, dt.date(2027, 3, 1), 1)
    tz_hours = {"Europe/Paris": 1, "Asia/Jakarta": 7}[winner]
    assert [r[2][11:16] for r in found] == [f"{9 - tz_hours:02d}:00", f"{11 - tz_hours:02d}:00"]
