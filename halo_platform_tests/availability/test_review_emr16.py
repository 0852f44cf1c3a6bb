"""EMR availability review 16: landed files as EMRs name and write them (capital extensions, HL7 batch envelopes)."""

from click.testing import CliRunner

from halo_platform.availability.feeds import hl7
from halo_platform.availability.landing import feed_dir
from halo_platform.availability.service import quarantined
from halo_platform.cli import cli
from halo_platform_tests.availability.helpers import land, process, spans_on

TEMPLATE = "provider_id,timezone,weekday,start,end,version\nD1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\n"
TEMPLATE_PART = "provider_id,timezone,weekday,start,end,version\nD1,UTC,tue,09:00,17:00,2026-11-20T10:00:00Z\n"
SIU = ("MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120120000||SIU^S12^SIU_S12|1|P|2.5\rSCH|P1|APT1^EMR\r"
       "TQ1|1||||||202701041000+0000|202701041100+0000\rAIP|1||D1\n")
HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},"updated_at":"2026-11-20T10:00:00Z"}\n'
         '{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-01-04T12:00:00","duration_min":30,'
         '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


def test_files_whose_extension_is_in_capitals_are_landed_and_processed(halo_env, store, tmp_path):
    """EMRs running on Windows write `SIU_0104.HL7`, `HOURS.CSV`, `EXPORT.JSONL`: the extension
    was compared case by case, so `halo emr ingest` refused such a file ('feed hl7 (hl7) takes
    *.hl7, *.csv'), and one dropped into the landing folder (SFTP, a share) was never processed
    nor reported, its bookings and working hours silently missing from the spans. An extension
    names the format whatever its case: such files are landed and processed as the others, a
    `.CSV` template adding up with the rows of its version in a `.csv` one."""
    for name, text in (("SIU_0104.HL7", SIU), ("HOURS.CSV", TEMPLATE)):
        (tmp_path / name).write_bytes(text.encode())
        result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "hl7", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (feed_dir("hl7") / name).read_bytes() == text.encode()
    land("hl7", "tuesday.csv", TEMPLATE_PART)
    land("acme", "EXPORT.JsonL", HOURS)
    summary = process(store, "2027-01-04", 2)
    assert (summary.files, summary.events, summary.quarantined) == (4, 5, 0)
    assert quarantined(store) == []
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    assert spans_on(store, "hl7", "D1", "2027-01-05") == [("2027-01-05T09:00Z", "2027-01-05T17:00Z")]
    assert spans_on(store, "acme", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T12:00Z"), ("2027-01-04T12:30Z", "2027-01-04T17:00Z")]


def _siu(control: str, appointment: str, provider: str, start: str, end: str) -> str:
    return "\r".join([f"MSH|^~\\&|EMR|CLINIC|HALO|HALO|20261120120000||SIU^S12^SIU_S12|{control}|P|2.5", f"SCH|{control}|{appointment}^EMR",
                      f"TQ1|1||||||{start}+0000|{end}+0000", f"AIP|1||{provider}"])


def test_an_hl7_batch_file_s_envelope_is_no_message_to_quarantine(halo_env, store):
    """HL7 v2's batch protocol wraps the messages of a file in FHS/BHS header and BTS/FTS trailer
    segments, as EMRs exporting SIU to files write them. The header was read as a message
    ('no MSH segment', quarantined: a file of one booking counted a bad record per good one, the
    quarantine check over its 10% threshold), and the trailer as segments of the last message. The
    envelope is no message: nothing is quarantined, every message is read, by both readers, and a
    message in a batch is the same event as alone (a replay of it outside the batch changes nothing)."""
    land("hl7", "hours.csv", TEMPLATE)
    header = "FHS|^~\\&|EMR|CLINIC|HALO|HALO|20261120120000\rBHS|^~\\&|EMR|CLINIC|HALO|HALO|20261120120000"
    batch = "\r".join([header, _siu("1", "APT1", "D1", "202701041000", "202701041100"),
                       _siu("2", "APT2", "D1", "202701041300", "202701041400"), "BTS|2", "FTS|1"]) + "\r"
    parsed = hl7.parse(batch.encode(), "batch.hl7")
    assert ([(e.position, e.item_id) for e in parsed.events], parsed.rejected) == ([(1, "APT1"), (2, "APT2")], [])
    columns = hl7.columns(batch.encode(), "batch.hl7")
    assert (columns.events.column("item_id").to_pylist(), columns.rejected) == (["APT1", "APT2"], [])
    assert columns.events.column("fp").to_pylist() == [e.fingerprint for e in parsed.events]
    land("hl7", "batch.hl7", batch)
    land("hl7", "newlines.hl7", batch.replace("\r", "\n"))
    summary = process(store, "2027-01-04", 1)
    assert quarantined(store) == []
    assert (summary.events, summary.quarantined) == (5, 0)
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [
        ("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T13:00Z"), ("2027-01-04T14:00Z", "2027-01-04T17:00Z")]
    land("hl7", "alone.hl7", _siu("2", "APT2", "D1", "202701041300", "202701041400") + "\n")
    assert process(store, "2027-01-04", 1).items_changed == 0
