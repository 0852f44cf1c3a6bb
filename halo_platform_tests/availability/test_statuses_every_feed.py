"""emr.md, Semantics (identical for every feed): an appointment blocks time unless its status is one
of cancelled, deleted, entered-in-error, noshow, waitlist, proposed, dc (case-insensitive). The HL7
and acme readers took only their own format's status words: an HL7 SCH-25 `Entered-in-error` or
`Proposed` (not in HL7 table 0278) and an acme `noshow` were quarantined as unknown statuses, and
the item's older booked version went on blocking its time."""

import json

import pytest

from halo_platform.availability.feeds.base import NON_BLOCKING
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

TEMPLATE = "provider_id,timezone,weekday,start,end,version\nD1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\n"
FREE = [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]


def _siu(trigger: str, control: str, stamp: str, status: str = "") -> str:
    sch = ["SCH", control, "APT1^EMR", *[""] * 22, status]  # SCH-25: the filler status
    return "\r".join([f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|{stamp}||SIU^{trigger}^SIU_{trigger}|{control}|P|2.5", "|".join(sch),
                      "TQ1|1||||||202701041000+0000|202701041100+0000", "AIP|1||D1"]) + "\n"


@pytest.mark.parametrize("status", ["Entered-in-error", "PROPOSED", "waitlist", "dc"])
@pytest.mark.parametrize("columnar", [False, True], ids=["records", "columns"])
def test_an_hl7_update_to_a_non_blocking_status_of_any_feed_frees_the_time(halo_env, store, status, columnar, monkeypatch):
    if columnar:  # the column-wise reader of big files, for a small one
        monkeypatch.setattr("halo_platform.availability.pipeline.COLUMNAR_MIN_BYTES", 0)
    land("hl7", "hours.csv", TEMPLATE)
    land("hl7", "booked.hl7", _siu("S12", "1", "20261120120000"))
    process(store, "2027-01-04", 1)
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    land("hl7", "update.hl7", _siu("S14", "2", "20261120130000", status))
    summary = process(store, "2027-01-04", 1)
    assert (summary.quarantined, quarantined(store)) == (0, [])
    assert spans_on(store, "hl7", "D1", "2027-01-04") == FREE


def _acme(status: str, updated: str) -> str:
    return json.dumps({"type": "appointment", "action": "upsert", "id": "A1", "provider": "P1", "start": "2027-01-04T10:00:00",
                       "duration_min": 60, "tz": "UTC", "status": status, "updated_at": updated}) + "\n"


@pytest.mark.parametrize("status", ["noshow", "Entered-in-error", "proposed", "DELETED"])
@pytest.mark.parametrize("columnar", [False, True], ids=["records", "columns"])
def test_an_acme_update_to_a_non_blocking_status_of_any_feed_frees_the_time(halo_env, store, status, columnar, monkeypatch):
    if columnar:
        monkeypatch.setattr("halo_platform.availability.pipeline.COLUMNAR_MIN_BYTES", 0)
    hours = json.dumps({"type": "hours", "provider": "P1", "tz": "UTC", "week": {"mon": [["09:00", "17:00"]]},
                        "updated_at": "2026-11-20T10:00:00Z"}) + "\n"
    land("acme", "a.jsonl", hours + _acme("booked", "2026-11-20T10:00:00Z"))
    process(store, "2027-01-04", 1)
    assert spans_on(store, "acme", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    land("acme", "b.jsonl", _acme(status, "2026-11-21T10:00:00Z"))
    summary = process(store, "2027-01-04", 1)
    assert (summary.quarantined, quarantined(store)) == (0, [])
    assert spans_on(store, "acme", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]


def test_a_status_no_feed_knows_is_still_quarantined(halo_env, store):
    land("acme", "a.jsonl", _acme("tentative", "2026-11-20T10:00:00Z"))
    land("hl7", "a.hl7", _siu("S12", "1", "20261120120000", "Tentative"))
    assert process(store, "2027-01-04", 1).quarantined == 2
    assert sorted(r["reason"] for r in quarantined(store)) == ["unknown status 'Tentative'", "unknown status 'tentative'"]
    assert {"entered-in-error", "proposed", "noshow"} <= NON_BLOCKING
