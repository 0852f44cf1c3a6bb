"""Applying a batch records, per provider, the merged date ranges its changes dirty: a provider
whose working hours changed is dirty over the whole range, which swallows its other ranges but not
a range reaching past it; another provider's overlapping ranges merge, distant ones stay apart."""

import datetime as dt

from halo_platform.availability.bulk_sql import Codec
from halo_platform.availability.feeds import acme
from halo_platform.availability.items import ALL_TO, LandedFile, apply_files


def booked(item: str, provider: str, start: str, tz: str = "Europe/Paris") -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"{item}","provider":"{provider}","start":"{start}",'
            f'"duration_min":30,"tz":"{tz}","status":"booked","updated_at":"2026-11-01T00:00:00Z"}}')


LINES = [
    '{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"mon":[["09:00","12:00"]]},"updated_at":"2026-11-01T00:00:00Z"}',
    booked("A1", "P1", "2027-01-04T09:00:00"),  # inside P1's whole range
    booked("A2", "P1", "1900-01-01T10:00:00", "Europe/London"),  # dirties 1899-12-30.., past the whole range's start
    booked("A3", "P2", "2027-01-04T09:00:00"),
    booked("A4", "P2", "2027-01-05T09:00:00"),  # overlaps A3's range
    booked("A5", "P2", "2027-02-01T09:00:00"),
]


def test_whole_range_providers_keep_only_what_reaches_past_it_and_others_merge(store):
    data = "\n".join(LINES).encode()
    with store.write() as conn:
        result = apply_files(conn, "acme", [LandedFile.from_parsed("acme/a.jsonl", "a", acme.parse(data, "a.jsonl"))])
    with store.read() as conn:
        codec = Codec(conn)
        ranges = sorted((p, codec.read_date(f), codec.read_date(t)) for p, f, t in codec.select(
            "SELECT provider_id, from_date, to_date FROM emr_dirty_dates WHERE feed = ?", ("acme",)))
    assert ranges == [("P1", dt.date(1899, 12, 30), ALL_TO),
                      ("P2", dt.date(2027, 1, 2), dt.date(2027, 1, 6)), ("P2", dt.date(2027, 1, 30), dt.date(2027, 2, 2))]
    assert result.dirty_ranges == 3
