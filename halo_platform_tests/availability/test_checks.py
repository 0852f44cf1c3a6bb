"""The asset checks on `available_spans` read the store as it is: a span that is not inside a
working interval of its provider-date is reported (feed, provider, local date, UTC start), the
spans computed from the hours are not; on SQLite and PostgreSQL (instants read as integers)."""

import datetime as dt

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.checks import overlapping_spans, spans_outside_hours
from halo_platform_tests.availability.helpers import land, process

HOURS = ('{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"mon":[["09:00","12:00"]],"sat":[["22:00","06:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')


def test_a_span_outside_its_working_hours_is_reported_and_the_computed_ones_are_not(any_store):
    land("acme", "hours.jsonl", HOURS)
    process(any_store, "2027-01-04", 7)  # Monday 2027-01-04 .. Sunday 2027-01-10; an overnight Saturday
    checked, bad = spans_outside_hours(any_store)
    assert (checked, bad) == (2, [])  # Monday morning, and the Saturday night shift (on its own date)
    with any_store.write() as conn:
        codec = Codec(conn)
        codec.insert("available_spans", ("feed", "provider_id", "span_date", "start_at", "end_at", "computed_at"), [
            ("acme", "P1", codec.date(dt.date(2027, 1, 5)), codec.ts(dt.datetime(2027, 1, 5, 8)), codec.ts(dt.datetime(2027, 1, 5, 9)),
             codec.ts(dt.datetime(2027, 1, 1)))])  # Tuesday 09:00-10:00 Paris: no hours on Tuesdays
    checked, bad = spans_outside_hours(any_store)
    assert (checked, bad) == (3, [("acme", "P1", "2027-01-05", "2027-01-05T08:00:00")])


def test_a_span_starting_before_the_previous_one_of_its_provider_ends_is_reported_and_only_it(any_store):
    """The overlap check walks each (feed, provider)'s spans in start order: a span starting inside
    the previous one is reported, one starting right at its end is not, nor is another provider's."""
    land("acme", "hours.jsonl", HOURS)
    process(any_store, "2027-01-04", 7)
    assert overlapping_spans(any_store) == []
    with any_store.write() as conn:
        codec = Codec(conn)
        codec.insert("available_spans", ("feed", "provider_id", "span_date", "start_at", "end_at", "computed_at"), [
            (feed, provider, codec.date(dt.date(2027, 1, 4)), codec.ts(start), codec.ts(end), codec.ts(dt.datetime(2027, 1, 1)))
            for feed, provider, start, end in [
                ("acme", "P1", dt.datetime(2027, 1, 4, 10), dt.datetime(2027, 1, 4, 10, 30)),  # inside Monday 08:00-11:00 UTC
                ("acme", "P1", dt.datetime(2027, 1, 4, 11), dt.datetime(2027, 1, 4, 12)),  # from its previous span's end
                ("acme", "P2", dt.datetime(2027, 1, 4, 8), dt.datetime(2027, 1, 4, 9))]])
    found = [(feed, provider, codec.read_date(day).isoformat(), codec.read_ts(start)) for feed, provider, day, start in overlapping_spans(any_store)]
    assert found == [("acme", "P1", "2027-01-04", dt.datetime(2027, 1, 4, 10))]


def test_each_provider_is_checked_against_its_own_zone_and_template_and_one_without_hours_has_every_span_reported(any_store):
    """Providers sharing a template but not a zone, or a zone but not a template, are told apart
    (the check numbers each (zone, template)); a span of a provider without hours is outside them."""
    land("acme", "hours.jsonl", "".join(
        f'{{"type":"hours","provider":"{p}","tz":"{tz}","week":{{"mon":[["{start}","12:00"]]}},"updated_at":"2026-11-01T00:00:00Z"}}\n'
        for p, tz, start in (("P1", "Europe/Paris", "09:00"), ("P2", "America/New_York", "09:00"), ("P3", "Europe/Paris", "11:00"))))
    process(any_store, "2027-01-04", 1)
    with any_store.write() as conn:
        codec = Codec(conn)
        codec.insert("available_spans", ("feed", "provider_id", "span_date", "start_at", "end_at", "computed_at"), [
            ("acme", "P9", codec.date(dt.date(2027, 1, 4)), codec.ts(dt.datetime(2027, 1, 4, 8)), codec.ts(dt.datetime(2027, 1, 4, 9)),
             codec.ts(dt.datetime(2027, 1, 1)))])
    checked, bad = spans_outside_hours(any_store)
    assert (checked, bad) == (4, [("acme", "P9", "2027-01-04", "2027-01-04T08:00:00")])
