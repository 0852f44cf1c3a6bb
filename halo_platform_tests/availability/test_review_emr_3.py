"""EMR availability review: defects found by reading emr.md against the feeds and queries, each
pinned end to end (files landed, processed by the Dagster assets, spans read back)."""

import pytest

from halo_platform.availability.feeds import hl7
from halo_platform.availability.service import quarantined
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.fixtures.access import authorized_client

HEADER = "provider_id,timezone,weekday,start,end,version"
EXPORT_1 = f"{HEADER}\nDR1,America/New_York,mon,09:00,12:00,2026-11-20T10:00:00Z\n"
EXPORT_2 = f"{HEADER}\nDR1,America/New_York,mon,13:00,17:00,2026-11-20T10:00:00Z\n"


@pytest.mark.parametrize(("case", "text"), [
    ("two exports concatenated", EXPORT_1 + EXPORT_2),
    ("the second export saved with a BOM", EXPORT_1 + "\ufeff" + EXPORT_2),
    ("the header repeated in another case, CRLF", (EXPORT_1 + EXPORT_2.replace(HEADER, HEADER.upper())).replace("\n", "\r\n")),
])
def test_a_template_file_repeating_its_header_reads_the_repeat_as_a_header_not_a_bad_row(halo_env, store, case, text):
    """emr.md gives templates one header, `provider_id,timezone,weekday,start,end,version`; two
    exports joined into one file carry it twice. The repeat was quarantined as a row ("invalid
    weekday 'weekday'"), counting against the feed's quarantine-rate check for a file that holds
    no bad data. A line that is the header is now a header wherever it stands, and the rows of
    both exports make DR1's template."""
    assert hl7.columns(text.encode(), "templates.csv") is None  # templates are read row by row, whatever their size
    parsed = hl7.parse(text.encode(), "templates.csv")
    assert parsed.rejected == [], case
    assert [(h.weekday, h.start_minute, h.end_minute) for e in parsed.events for h in e.hours] == [(0, 540, 720), (0, 780, 1020)]
    land("hl7", "templates.csv", text)
    process(store, "2027-03-15", 1)
    # 2027-03-15 in New York is EDT (-04:00)
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T16:00Z"), ("2027-03-15T17:00Z", "2027-03-15T21:00Z")]
    assert quarantined(store, "hl7") == []


def test_a_template_line_that_is_not_the_header_is_still_quarantined_after_the_first_line(halo_env, store):
    """Only the header itself is skipped: a line naming other columns is a bad row, as before."""
    parsed = hl7.parse((EXPORT_1 + "provider_id,timezone,weekday,start,end\n").encode(), "templates.csv")
    assert [(r.position, r.reason) for r in parsed.rejected] == [(3, "expected 6 columns, got 5")]


def test_the_quarantine_rate_of_a_template_file_is_its_bad_rows_over_its_rows(halo_env, store):
    """The quarantine-rate check holds a feed to a share of its records (`quarantine_threshold`,
    0.1 by default). A template file's records are its rows, but its rows of one provider and
    version were counted as one event: 10 providers of 5 working days each (50 good rows) and 2
    bad rows read as 2 bad records in 12 (17%, the check failed) instead of 2 in 52 (4%). Each
    row now counts as the event it is; the rows of a version still make one template."""
    from halo_platform.availability.checks import quarantine_counts, rates_of

    rows = [f"DR{p},America/New_York,{day},09:00,17:00,2026-11-20T10:00:00Z" for p in range(10) for day in ("mon", "tue", "wed", "thu", "fri")]
    land("hl7", "templates.csv", "\n".join([HEADER, *rows, "DR0,America/New_York,mon,9h,17:00,2026-11-20T10:00:00Z",
                                            "DR1,Mars/Olympus,tue,09:00,17:00,2026-11-20T10:00:00Z"]) + "\n")
    summary = process(store, "2027-03-15", 1)
    assert (summary.events, summary.quarantined) == (50, 2)
    assert rates_of(quarantine_counts(store))["hl7"] == (2 / 52, 0.1)
    assert spans_on(store, "hl7", "DR0", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T21:00Z")]
    assert spans_on(store, "hl7", "DR9", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T21:00Z")]


@pytest.fixture
def ny_sunday(halo_env, store, tmp_path, monkeypatch):
    """DR1 (acme, America/New_York) works 00:00-06:00 on Sundays; 15-minute slots on a 15-minute
    grid, bookable up to a year ahead. New York springs forward on 2027-03-14 at 02:00."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules: {default: {duration_minutes: 15, alignment_minutes: 15, max_days_ahead: 366}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", '{"type":"hours","provider":"DR1","tz":"America/New_York","week":{"sun":[["00:00","06:00"]]},'
                                '"updated_at":"2026-11-20T10:00:00Z"}\n')
    process(store, "2027-03-14", 1)


@pytest.mark.parametrize(("bounds", "expected"), [
    # 02:30 does not exist: fold=0 makes it 07:30Z (03:30 EDT), after 03:15 EDT (07:15Z), though its wall time is before
    (["ge2027-03-14T02:30", "ge2027-03-14T03:15", "lt2027-03-14T04:00"], ["2027-03-14T07:30:00Z", "2027-03-14T07:45:00Z"]),
    (["ge2027-03-14T03:15", "ge2027-03-14T02:30", "lt2027-03-14T04:00"], ["2027-03-14T07:30:00Z", "2027-03-14T07:45:00Z"]),
    # lt 02:45 is 07:45Z, before lt 03:50 (07:50Z): the earlier one bounds
    (["ge2027-03-14T03:00", "lt2027-03-14T02:45", "lt2027-03-14T03:50"], ["2027-03-14T07:00:00Z", "2027-03-14T07:15:00Z", "2027-03-14T07:30:00Z"]),
])
def test_fhir_slot_start_bounds_in_a_dst_gap_are_combined_as_instants(store, ny_sunday, bounds, expected):
    """FHIR ANDs repeated `start` parameters: each Slot matches every one. Two local bounds were
    combined by their wall times (Python compares two datetimes of one timezone so), not their
    instants: `ge02:30` (07:30Z, 02:30 being in the gap) and `ge03:15` (07:15Z) kept 03:15, and
    the Slot at 07:15Z, before `ge02:30`, was answered. The bounds are now combined as instants."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params=[("schedule", "Schedule/acme.DR1"), *(("start", b) for b in bounds)])
    assert answer.status_code == 200, answer.text
    assert [e["resource"]["start"] for e in answer.json().get("entry", [])] == expected
