"""EMR availability review 16: landed files as EMRs name them."""

from click.testing import CliRunner

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
