"""Slot rules: the bookable slots equal a brute-force search minute by minute (inside the spans
with their buffers, aligned on the provider's local clock, after the notice, before the horizon),
DST days included; rules resolve feed -> type -> provider; GET /v1/slots, GraphQL `slots` and
`nextAvailable`, `halo emr slots` and the `next_available_slots` asset answer under them."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.availability.slots import SlotRules, align_up, bookable, resolve_rules, slot_types
from halo_platform.availability.tables import NextAvailableSlot
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

# spring forward, fall back, a 30-minute DST shift, a +05:30 zone, no DST
ZONES_AND_DAYS = [("America/New_York", "2027-03-14"), ("America/New_York", "2027-11-07"), ("Europe/Paris", "2027-03-28"),
                  ("Australia/Lord_Howe", "2027-04-04"), ("Asia/Kolkata", "2027-06-01"), ("UTC", "2027-06-01")]
WINDOW_MINUTES = 3 * 1440


def oracle(spans, rules: SlotRules, tz: ZoneInfo, now: dt.datetime, base: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    """Every whole minute of the window tried as a start: free minutes counted with prefix sums."""
    free = [0] * (WINDOW_MINUTES + 1)
    for start, end in spans:
        for m in range(int((start - base).total_seconds() // 60), int((end - base).total_seconds() // 60)):
            free[m] = 1
    prefix = [0]
    for f in free:
        prefix.append(prefix[-1] + f)
    out = []
    for m in range(WINDOW_MINUTES):
        start = base + dt.timedelta(minutes=m)
        lo, hi = m - rules.buffer_before, m + rules.duration_minutes + rules.buffer_after
        local = start.astimezone(tz)
        if (lo >= 0 and hi <= WINDOW_MINUTES and prefix[hi] - prefix[lo] == hi - lo
                and start >= now + dt.timedelta(minutes=rules.min_notice_minutes)
                and start < now.astimezone(tz) + dt.timedelta(days=rules.max_days_ahead)  # the same local clock time
                and (local.hour * 60 + local.minute) % rules.alignment_minutes == 0):
            out.append((start, start + dt.timedelta(minutes=rules.duration_minutes)))
    return out


rules_strategy = st.builds(SlotRules, duration_minutes=st.integers(5, 240), buffer_before=st.integers(0, 45),
                           buffer_after=st.integers(0, 45), min_notice_minutes=st.integers(0, 2000),
                           alignment_minutes=st.sampled_from([1, 5, 10, 15, 20, 30, 45, 50, 60, 90]),
                           max_days_ahead=st.integers(1, 3))


@settings(max_examples=150, deadline=None)
@given(zone_day=st.sampled_from(ZONES_AND_DAYS), rules=rules_strategy,
       raw=st.lists(st.tuples(st.integers(0, WINDOW_MINUTES - 1), st.integers(1, 600)), max_size=8),
       now_seconds=st.integers(-1440 * 60, 2 * 1440 * 60))
def test_bookable_slots_are_exactly_the_brute_force_ones(zone_day, rules, raw, now_seconds):
    tz, day = ZoneInfo(zone_day[0]), dt.date.fromisoformat(zone_day[1])
    base = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    spans = [(base + dt.timedelta(minutes=s), base + dt.timedelta(minutes=min(s + n, WINDOW_MINUTES))) for s, n in raw]
    now = base + dt.timedelta(seconds=now_seconds)
    assert list(bookable(spans, rules, tz, now)) == oracle(spans, rules, tz, now, base)


@pytest.mark.parametrize("zone, at, minutes, expected", [
    ("America/New_York", "2027-03-14T06:50:00+00:00", 15, "2027-03-14T07:00:00+00:00"),  # 01:50 EST -> 03:00 EDT
    ("America/New_York", "2027-11-07T05:50:00+00:00", 15, "2027-11-07T06:00:00+00:00"),  # 01:50 EDT -> 01:00 EST
    ("Asia/Kolkata", "2027-06-01T03:31:00+00:00", 60, "2027-06-01T04:30:00+00:00"),  # 09:01 IST -> 10:00 IST
    ("UTC", "2027-06-01T23:21:00+00:00", 50, "2027-06-02T00:00:00+00:00"),  # the day's last step ends at midnight
    ("UTC", "2027-06-01T10:00:00+00:00", 30, "2027-06-01T10:00:00+00:00"),
])
def test_alignment_follows_the_local_clock(zone, at, minutes, expected):
    assert align_up(dt.datetime.fromisoformat(at), ZoneInfo(zone), minutes) == dt.datetime.fromisoformat(expected)


# (zone, a local date whose clock skips midnight, 00:00 -> 01:00, found with zoneinfo)
SKIPPED_MIDNIGHTS = [("America/Santiago", "2026-09-06"), ("America/Havana", "2026-03-08"), ("Asia/Beirut", "2027-03-28"),
                     ("Africa/Cairo", "2026-04-24"), ("Atlantic/Azores", "2026-03-29")]


@pytest.mark.parametrize("zone, day", SKIPPED_MIDNIGHTS)
@pytest.mark.parametrize("minutes", [1440, 90, 45, 60])
def test_a_day_whose_clock_skips_midnight_is_aligned_from_its_first_instant(zone, day, minutes):
    """Where the clock skips midnight, no instant of the day showed 00:00: a day-aligned slot
    (alignment 1440) was missing that day, and a 90- or 45-minute grid started at 01:30. The day
    now starts at its first instant (01:00) and its grid counts from there; the days around it
    still count from midnight."""
    tz, day = ZoneInfo(zone), dt.date.fromisoformat(day)
    free = [(dt.datetime.combine(day - dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC),
             dt.datetime.combine(day + dt.timedelta(days=3), dt.time(), tzinfo=tz).astimezone(dt.UTC))]
    starts = [s.astimezone(tz) for s, _ in bookable(free, SlotRules(duration_minutes=60, alignment_minutes=minutes), tz, free[0][0])]

    def walls(date: dt.date) -> list[str]:
        return [f"{s:%H:%M}" for s in starts if s.date() == date]

    assert walls(day) == [f"{m // 60:02d}:{m % 60:02d}" for m in range(60, 1440, minutes)]
    for other in (day - dt.timedelta(days=1), day + dt.timedelta(days=1)):
        assert walls(other) == [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 1440, minutes)]


RULES = {"default": {"duration_minutes": 30, "alignment_minutes": 30},
         "types": {"new_patient": {"duration_minutes": 60, "buffer_after": 15}},
         "providers": {"P1": {"default": {"min_notice_minutes": 60}, "types": {"new_patient": {"duration_minutes": 45}, "video": {}}}}}


@pytest.mark.parametrize("provider, slot_type, expected", [
    ("P2", None, SlotRules(duration_minutes=30, alignment_minutes=30)),
    ("P2", "new_patient", SlotRules(duration_minutes=60, buffer_after=15, alignment_minutes=30)),
    ("P1", "default", SlotRules(duration_minutes=30, alignment_minutes=30, min_notice_minutes=60)),
    ("P1", "new_patient", SlotRules(duration_minutes=45, buffer_after=15, alignment_minutes=30, min_notice_minutes=60)),
    ("P1", "video", SlotRules(duration_minutes=30, alignment_minutes=30, min_notice_minutes=60)),
])
def test_rules_resolve_from_feed_to_type_to_provider(provider, slot_type, expected):
    assert resolve_rules("acme", RULES, provider, slot_type) == expected
    assert resolve_rules("acme", None, provider, None) == SlotRules()


@pytest.mark.parametrize("config, provider, slot_type, message", [
    (RULES, "P2", "video", "unknown appointment type 'video' for acme/P2; known: default, new_patient"),
    ({"default": {"duration_minutes": 0}}, "P1", None, "slot_rules.default: duration_minutes must be a whole number in 1..1440, got 0"),
    ({"types": {"x": {"lenght": 5}}}, "P1", "x", "slot_rules.types.x: unknown slot rule 'lenght'"),
    ({"types": ["x"]}, "P1", None, "slot_rules.types: expected a mapping"),
    ("thirty", "P1", None, "slot_rules: expected a mapping"),
    ({"providers": {"P1": {"default": {"max_days_ahead": True}}}}, "P1", None, "max_days_ahead must be a whole number"),
])
def test_bad_rules_and_unknown_types_are_refused_by_name(config, provider, slot_type, message):
    with pytest.raises(HaloError, match=message.replace(".", r"\.").replace("(", r"\(")):
        resolve_rules("acme", config, provider, slot_type)


def test_slot_types_list_the_default_first():
    assert slot_types(RULES, "P1") == ["default", "new_patient", "video"]
    assert slot_types(RULES, "P2") == ["default", "new_patient"]


@pytest.mark.parametrize("written, provider", [("1001", "1001"), ("0123", "0123"), ("1_000", "1_000"), ("yes", "yes"),
                                               ("12.50", "12.50"), ("2027-01-04", "2027-01-04"), ("'1001'", "1001")])
def test_provider_and_type_keys_of_the_feeds_file_are_the_ids_as_written(halo_env, tmp_path, monkeypatch, written, provider):
    """HL7 provider ids (AIP-3) are often digits; YAML read the key 1001 as an int (0123 as the
    octal 83, yes as True), and the provider's rules were silently ignored."""
    from halo_platform.availability.service import slot_rules

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  hl7:\n    format: hl7\n    slot_rules:\n      default: {duration_minutes: 30}\n"
                     f"      types: {{{written}: {{duration_minutes: 20}}}}\n"
                     f"      providers:\n        {written}: {{default: {{duration_minutes: 60}}, types: {{{written}: {{buffer_after: 5}}}}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    assert slot_rules("hl7", provider, None) == SlotRules(duration_minutes=60)
    assert slot_rules("hl7", provider, provider) == SlotRules(duration_minutes=60, buffer_after=5)
    assert slot_rules("hl7", "other", provider) == SlotRules(duration_minutes=20)


WEEK = ",".join(f'"{d}":[["09:00","12:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


@pytest.fixture
def rules_file(halo_env, tmp_path, monkeypatch):
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules:\n"
                     "      default: {duration_minutes: 30, alignment_minutes: 30}\n"
                     "      types: {new_patient: {duration_minutes: 60, buffer_after: 15}}\n"
                     "      providers: {P1: {types: {new_patient: {duration_minutes: 45}}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))


@pytest.fixture
def booked(rules_file, any_store):
    """P1 works 09:00-12:00 UTC every day; on a day a week ahead it is booked 10:00-10:30."""
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"P1","tz":"UTC","week":{{{WEEK}}},"updated_at":"2026-11-01T00:00:00Z"}}\n')
    land("acme", "booking.jsonl", f'{{"type":"appointment","action":"upsert","id":"B1","provider":"P1","start":"{day}T10:00:00",'
                                  f'"duration_min":30,"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}}\n')
    process(any_store, day.isoformat(), 3)
    return day


def starts(slots: list[dict], key: str = "start_at") -> list[str]:
    return [s[key][11:16] for s in slots]


def test_rest_slots_follow_the_type_and_provider_rules(any_store, booked):
    """On SQLite and PostgreSQL."""
    client = authorized_client(create_app({"store": any_store}), "availability:read")
    day = booked.isoformat()
    body = client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1", "type": "new_patient", "from": day, "to": day}).json()
    assert body["rules"]["duration_minutes"] == 45 and body["type"] == "new_patient"
    assert starts(body["slots"]) == ["09:00", "10:30", "11:00"]  # 45 minutes + 15 after, on the half hour
    assert starts(body["slots"], "end_at") == ["09:45", "11:15", "11:45"]
    default = client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1", "from": day, "to": day}).json()
    assert starts(default["slots"]) == ["09:00", "09:30", "10:30", "11:00", "11:30"]
    data = client.post("/graphql", json={"query": f'{{ slots(feed: "acme", providerId: "P1", type: "new_patient", from: "{day}", to: "{day}") '
                                                  "{ startAt endAt } }"}).json()
    assert [s["startAt"][11:16] for s in data["data"]["slots"]] == ["09:00", "10:30", "11:00"]


def test_next_available_honours_the_slot_rules(any_store, booked):
    """Booked 10:00-10:30 in 09:00-12:00: a plain search would answer 09:10; the default type is
    on the half hour, and a 45-minute new_patient slot needs 15 free minutes after it."""
    client = authorized_client(create_app({"store": any_store}), "availability:read")

    def next_available(arguments: str) -> dict:
        query = f'{{ nextAvailable(feed: "acme", providerId: "P1", after: "{booked}T09:10:00Z", {arguments}) {{ startAt endAt }} }}'
        return client.post("/graphql", json={"query": query}).json()

    assert next_available("durationMinutes: 30")["data"]["nextAvailable"] == {
        "startAt": f"{booked}T09:30:00Z", "endAt": f"{booked}T10:00:00Z"}
    assert next_available('durationMinutes: 45, type: "new_patient"')["data"]["nextAvailable"] == {
        "startAt": f"{booked}T10:30:00Z", "endAt": f"{booked}T11:15:00Z"}
    refused = next_available('durationMinutes: 30, type: "surgery"')
    assert refused["data"] is None and "unknown appointment type 'surgery'" in refused["errors"][0]["message"]


def test_cli_slots_answer_what_rest_answers(any_store, booked):
    day = booked.isoformat()
    args = ["emr", "slots", "--feed", "acme", "--provider", "P1", "--type", "new_patient", "--from", day, "--to", day]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert lines[0].startswith("type new_patient: duration_minutes 45,") and "buffer_after 15" in lines[0]
    assert [line[11:16] for line in lines[2:-1]] == ["09:00", "10:30", "11:00"] and lines[-1] == "3 slots"
    as_json = json.loads(CliRunner().invoke(cli, [*args, "--format", "json"]).output)
    rest = authorized_client(create_app({"store": any_store}), "availability:read").get(
        "/v1/slots", params={"feed": "acme", "provider_id": "P1", "type": "new_patient", "from": day, "to": day}).json()
    assert as_json == rest


@pytest.mark.parametrize("args, message", [
    (["--type", "surgery"], "unknown appointment type 'surgery' for acme/P1"),
    (["--from", "01/02/2027"], "--from: expected a date"),
    (["--feed", "nope"], "unknown feed"),
])
def test_cli_slots_bad_input_is_one_line(rules_file, args, message):
    result = CliRunner().invoke(cli, ["emr", "slots", "--feed", "acme", "--provider", "P1", *args])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()] and result.output.startswith("error: ")
    assert message in result.output


@pytest.mark.parametrize("params, status, reason", [
    ({"type": "surgery"}, 422, "unknown appointment type 'surgery' for acme/P1; known: default, new_patient"),
    ({"from": "tomorrow"}, 422, "from: expected a date"),
    ({"from": "2027-02-02", "to": "2027-02-01"}, 422, "before from"),
    ({"feed": "nope"}, 422, "unknown feed"),
    ({"provider_id": None}, 422, "provider_id"),
])
def test_bad_slot_queries_are_4xx_json(store, rules_file, params, status, reason):
    client = authorized_client(create_app({"store": store}), "availability:read")
    query = {k: v for k, v in {"feed": "acme", "provider_id": "P1", **params}.items() if v is not None}
    answer = client.get("/v1/slots", params=query)
    assert answer.status_code == status and reason in answer.json()["error"]


def test_next_available_slots_hold_the_first_slot_of_each_type(any_store, booked):
    with any_store.read() as conn:
        rows = conn.execute(sa.select(NextAvailableSlot.slot_type, NextAvailableSlot.duration_minutes, NextAvailableSlot.start_at)
                            .order_by(NextAvailableSlot.slot_type)).all()
    first = dt.datetime.combine(booked, dt.time(9), tzinfo=dt.UTC)
    assert rows == [("default", 30, first), ("new_patient", 45, first)]


NIGHTS = ",".join(f'"{d}":[["00:00","06:00"],["18:00","00:00"]]' for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"))


def night_shift(store, tmp_path, monkeypatch, rules: str | None) -> tuple[dt.date, object]:
    """N1 works 18:00-06:00 UTC every night: free without a break, stored as two spans a day
    that touch at midnight. Answers a day three days ahead and a client."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n" + (f"    slot_rules: {rules}\n" if rules else ""))
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    day = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
    land("acme", "hours.jsonl", f'{{"type":"hours","provider":"N1","tz":"UTC","week":{{{NIGHTS}}},"updated_at":"2026-11-01T00:00:00Z"}}\n')
    process(store, day.isoformat(), 3)
    return day, authorized_client(create_app({"store": store}), "availability:read")


def test_next_available_without_rules_finds_free_time_running_across_midnight(store, halo_env, tmp_path, monkeypatch):
    """Free 18:00 -> 06:00, stored as 18:00-00:00 and 00:00-06:00: an hour from 23:30 is free.
    Each stored span was tried alone, and the answer was the next day's 00:00."""
    day, client = night_shift(store, tmp_path, monkeypatch, None)
    query = f'{{ nextAvailable(feed: "acme", providerId: "N1", durationMinutes: 60, after: "{day}T23:30:00Z") {{ startAt endAt }} }}'
    assert client.post("/graphql", json={"query": query}).json()["data"]["nextAvailable"] == {
        "startAt": f"{day}T23:30:00Z", "endAt": f"{day + dt.timedelta(days=1)}T00:30:00Z"}


def test_next_available_under_rules_agrees_with_slots_at_a_span_boundary(store, halo_env, tmp_path, monkeypatch):
    """A 00:00 slot needs its 15-minute buffer before in the span ending at 00:00: /v1/slots lists
    it, and nextAvailable after 00:00 answered 00:30 (the span ending at `after` was not read)."""
    day, client = night_shift(store, tmp_path, monkeypatch, "{default: {duration_minutes: 30, alignment_minutes: 30, buffer_before: 15}}")
    midnight = day + dt.timedelta(days=1)
    listed = client.get("/v1/slots", params={"feed": "acme", "provider_id": "N1", "from": midnight, "to": midnight}).json()
    assert listed["slots"][0]["start_at"] == f"{midnight}T00:00:00Z"
    for after, expected in ((f"{midnight}T00:00:00Z", f"{midnight}T00:00"), (f"{day}T23:45:00Z", f"{midnight}T00:00"),
                            (f"{day}T18:00:00Z", f"{day}T18:30")):  # 18:00 has no free 15 minutes before it
        query = f'{{ nextAvailable(feed: "acme", providerId: "N1", durationMinutes: 30, after: "{after}") {{ startAt }} }}'
        assert client.post("/graphql", json={"query": query}).json()["data"]["nextAvailable"] == {"startAt": f"{expected}:00Z"}


def test_slots_take_every_range_the_availability_query_takes(store, halo_env, tmp_path, monkeypatch):
    """The widest range GET /v1/availability answers is answered by /v1/slots, GraphQL `slots` and
    FHIR too (they read a day more each side, which was checked against the limit again); one day
    more is refused by the availability query, while the slot routes search the days of their range
    where slots can start (up to max_days_ahead, 60, after now)."""
    from halo_platform.availability.service import MAX_QUERY_DAYS

    day, client = night_shift(store, tmp_path, monkeypatch, None)
    last, beyond = day + dt.timedelta(days=MAX_QUERY_DAYS - 1), day + dt.timedelta(days=MAX_QUERY_DAYS)  # first and last included
    for to, status in ((last, 200), (beyond, 422)):
        params = {"feed": "acme", "provider_id": "N1", "from": day, "to": to}
        answer = client.get("/v1/availability", params=params)
        assert answer.status_code == status, answer.json()
        slots = client.get("/v1/slots", params=params)
        assert slots.status_code == 200, slots.json()
        graphql = client.post("/graphql", json={"query": f'{{ slots(feed: "acme", providerId: "N1", from: "{day}", to: "{to}") {{ startAt }} }}'})
        assert "errors" not in graphql.json(), graphql.json()
        fhir = client.get("/fhir/Slot", params={"schedule": "Schedule/acme.N1", "start": [f"ge{day}", f"le{to}"]})
        assert fhir.status_code == 200, fhir.json()
    assert answer.json()["error"] == f"at most {MAX_QUERY_DAYS} days per query (first and last included), got {MAX_QUERY_DAYS + 1}: {day} to {beyond}"
