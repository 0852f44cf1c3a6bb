"""The same processing against PostgreSQL (the production store): the hl7 golden day comes out identical."""

from halo_platform_tests.availability import test_golden_hl7 as golden
from halo_platform_tests.availability.helpers import land, process, spans_on


def test_hl7_dst_sunday_spans_and_a_replay_on_postgresql(pg_store):
    store = pg_store
    land("hl7", "templates.csv", golden.TEMPLATES)
    land("hl7", "batch-mllp.hl7", golden.MLLP)
    land("hl7", "batch-lines.hl7", golden.NEWLINES)
    first = process(store, "2027-03-12", 5)
    assert first.quarantined == 0 and first.events == 18  # 5 template rows, 3 + 10 messages
    assert spans_on(store, "hl7", "DR1", "2027-03-14") == [
        ("2027-03-14T06:00Z", "2027-03-14T06:30Z"), ("2027-03-14T06:45Z", "2027-03-14T07:30Z"), ("2027-03-14T08:00Z", "2027-03-14T08:30Z")]
    assert spans_on(store, "hl7", "DR3", "2027-03-13") == [("2027-03-14T01:00Z", "2027-03-14T03:00Z"), ("2027-03-14T04:00Z", "2027-03-14T08:00Z")]
    land("hl7", "again.hl7", golden.NEWLINES)
    again = process(store, "2027-03-12", 5)
    assert (again.items_changed, again.provider_dates) == (0, 0)
