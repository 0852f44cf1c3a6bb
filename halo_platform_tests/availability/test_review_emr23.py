"""EMR feed conformance review (emr23): unseen-style inputs read by both parsing paths, record by
record and column-wise (forced for small files by setting `COLUMNAR_MIN_BYTES` to 0), which must
give the same events, quarantine records and spans."""

import pytest

from halo_platform.availability.feeds import hl7
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

HEADER = "provider_id,timezone,weekday,start,end,version"
ROW = "D1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z"
SIU = ("MSH|^~\\&|EMR|C|HALO|H|20261120120000||SIU^S12|1|P|2.5\rSCH|1|APT1^EMR\r"
       "TQ1|1||||||202701041000+0000|202701041100+0000\rAIP|1||D1\n")


@pytest.fixture(params=[False, True], ids=["records", "columns"])
def columnar(request, monkeypatch):
    if request.param:  # the column-wise reader of big files, for small ones
        monkeypatch.setattr("halo_platform.availability.pipeline.COLUMNAR_MIN_BYTES", 0)
    return request.param


@pytest.mark.parametrize("text", [
    pytest.param(f"\n{HEADER}\n{ROW}\n", id="a blank line before the header"),
    pytest.param(f"\r\n  \r\n\t\r\n{HEADER}\r\n{ROW}\r\n", id="blank lines and spaces before the header, CRLF"),
    pytest.param(f"\ufeff\n{HEADER}\n{ROW}\n", id="a BOM, then a blank line"),
])
def test_a_template_file_starting_with_blank_lines_keeps_its_rows(halo_env, store, columnar, text):
    """A template CSV whose header came after a blank line (an export tool's leading newline) was
    quarantined whole as one 'expected header' record at line 1: every row of it was lost, and the
    provider had no working hours. Blank lines before the header are no record, as blank lines
    anywhere else in the file."""
    land("hl7", "hours.csv", text)
    land("hl7", "siu.hl7", SIU)
    summary = process(store, "2027-01-04", 1)
    assert (summary.quarantined, quarantined(store)) == (0, [])
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"),
                                                          ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]


@pytest.mark.parametrize("data", [b"", b"\n", b"  \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n"],
                         ids=["0 bytes", "a newline", "whitespace", "a BOM", "a BOM and CRLF"])
def test_an_empty_template_file_holds_no_record_as_an_empty_file_of_any_format(halo_env, store, columnar, data):
    """A 0-byte or blank template CSV was one quarantined record ('expected header', line 1): a
    file holding nothing counted as a bad record, 100% of the feed's quarantine rate when it was the
    only file (the asset check failed), where an empty SIU, FHIR or acme file holds no record."""
    land("hl7", "hours.csv", f"{HEADER}\n{ROW}\n")
    land("hl7", "empty.csv", data)
    land("hl7", "empty.hl7", data)
    land("hl7", "siu.hl7", SIU)
    summary = process(store, "2027-01-04", 1)
    assert (summary.quarantined, quarantined(store)) == (0, [])
    assert (hl7.parse(data, "empty.csv").events, hl7.parse(data, "empty.csv").rejected) == ([], [])
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"),
                                                          ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]


def test_a_template_file_of_other_columns_is_still_quarantined_at_its_first_line(halo_env, store, columnar):
    land("hl7", "hours.csv", f"\n\nprovider,tz,day,from,to,version\n{ROW}\n")
    assert process(store, "2027-01-04", 1).quarantined == 1
    assert [(r["position"], r["reason"], r["raw"]) for r in quarantined(store)] == [
        (3, f"expected header {HEADER}", "provider,tz,day,from,to,version")]


def _siu(n: int, *segments: str) -> str:
    return "\r".join([f"MSH|^~\\&|EMR|C|HALO|H|2026112012000{n}||SIU^S12|{n}|P|2.5", *segments]) + "\n"


ZONES = ("provider_id,timezone,weekday,start,end,version\n"
         + "".join(f"{p},{tz},{day},08:00,18:00,2026-11-20T10:00:00Z\n"
                   for p, tz in (("W", "America/New_York"), ("E", "Australia/Sydney")) for day in ("sat", "sun")))


def test_every_hl7_time_field_without_an_offset_is_local_to_its_providers_zone_east_and_west_across_dst(halo_env, store, columnar):
    """emr.md: HL7 times without an offset are local to the provider's timezone (from its template).
    Each field an interval is read from (TQ1-7/8, SCH-11.4/.5, AIP-6 + AIP-9/10, AIS-4 + AIS-7/8), for
    a provider west of UTC on both sides of New York's spring-forward (2027-03-14) and one east of it
    on both sides of Sydney's fall-back (2027-04-04): each blocks the UTC hour its zone's offset of
    that day gives, on both parsing paths (TQ1 and SCH-11 take the vectorized one)."""
    land("hl7", "hours.csv", ZONES)
    land("hl7", "siu.hl7", "".join([
        _siu(1, "SCH|1|W1^EMR", "TQ1|1||||||202703131000|202703131100", "AIP|1||W"),  # EST, UTC-5
        _siu(2, "SCH|2|W2^EMR|||||||||^^^202703141000^202703141100", "AIP|1||W"),  # EDT, UTC-4
        _siu(3, "SCH|3|E1^EMR", "AIP|1||E|||202704031000|||60|MIN"),  # AEDT, UTC+11
        _siu(4, "SCH|4|E2^EMR", "AIS|1||CONSULT|202704041000|||1|HOUR", "AIP|1||E"),  # AEST, UTC+10
    ]))
    summary = process(store, "2027-03-13", 23)
    assert (summary.quarantined, quarantined(store)) == (0, [])
    assert spans_on(store, "hl7", "W", "2027-03-13") == [("2027-03-13T13:00Z", "2027-03-13T15:00Z"), ("2027-03-13T16:00Z", "2027-03-13T23:00Z")]
    assert spans_on(store, "hl7", "W", "2027-03-14") == [("2027-03-14T12:00Z", "2027-03-14T14:00Z"), ("2027-03-14T15:00Z", "2027-03-14T22:00Z")]
    assert spans_on(store, "hl7", "E", "2027-04-03") == [("2027-04-02T21:00Z", "2027-04-02T23:00Z"), ("2027-04-03T00:00Z", "2027-04-03T07:00Z")]
    assert spans_on(store, "hl7", "E", "2027-04-04") == [("2027-04-03T22:00Z", "2027-04-04T00:00Z"), ("2027-04-04T01:00Z", "2027-04-04T08:00Z")]


def test_hl7_hex_escapes_are_decoded_as_the_utf8_bytes_they_name_on_both_paths(halo_env, store, columnar):
    """HL7 v2.5 §2.7.4: `\\Xdddd...\\` is hexadecimal data. It was kept as written, so the SIU naming
    provider `D\\X31\\` (D1, escaped as an EMR escapes what its channel may not carry) blocked a
    provider `D\\X31\\` no template names, and D1's time stayed free. The bytes are read as UTF-8, as
    the landed file itself is; bytes that are not UTF-8 quarantine the message, naming the escape."""
    hours = f"{HEADER}\nD1,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\nDé,UTC,mon,09:00,17:00,2026-11-20T10:00:00Z\n"
    land("hl7", "hours.csv", hours)
    land("hl7", "siu.hl7", "".join([
        _siu(1, "SCH|1|A\\X31\\^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||D\\X31\\"),
        _siu(2, "SCH|2|A2^EMR", "TQ1|1||||||202701041200|202701041300", "AIP|1||D\\XC3A9\\"),
        _siu(3, "SCH|3|A3^EMR", "TQ1|1||||||202701041400|202701041500", "AIP|1||D\\XFF\\"),
    ]))
    summary = process(store, "2027-01-04", 1)
    assert [(r["position"], r["reason"]) for r in quarantined(store)] == [(3, "invalid escape '\\\\XFF\\\\': not UTF-8 bytes")]
    assert summary.quarantined == 1
    assert spans_on(store, "hl7", "D1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    assert spans_on(store, "hl7", "Dé", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T12:00Z"), ("2027-01-04T13:00Z", "2027-01-04T17:00Z")]
    assert [e.item_id for e in hl7.parse(_siu(1, "SCH|1|A\\X31\\^EMR", "TQ1|1||||||202701041000|202701041100", "AIP|1||D1").encode()).events] == ["A1"]


ROLE = ('{"resourceType":"PractitionerRole","id":"R1","meta":{"lastUpdated":"2026-11-20T10:00:00Z"},'
        '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"UTC"}],'
        '"practitioner":{"reference":"Practitioner/P1"},'
        '"availableTime":[{"daysOfWeek":["mon"],"availableStartTime":"09:00:00","availableEndTime":"17:00:00"}]}\n')


def _appointment(updated: str, reference: str, contained: str = "") -> str:
    return (f'{{"resourceType":"Appointment","id":"AP1","meta":{{"lastUpdated":"{updated}"}},{contained}"status":"booked",'
            f'"start":"2027-01-04T10:00:00Z","end":"2027-01-04T11:00:00Z","participant":[{{"actor":{{"reference":"{reference}"}}}}]}}\n')


def test_a_fhir_appointment_moved_to_a_contained_practitioner_frees_the_one_it_listed(halo_env, store, columnar):
    """AP1 booked Practitioner/P1; its next version lists only a contained Practitioner (`#locum`, a
    resource inside the Appointment: FHIR's local reference, no Practitioner/<id> a feed's roles
    know). That version was quarantined ('no Practitioner participant'), so P1 stayed blocked by an
    appointment no longer listing them. A local reference names a resource, as a Location does: the
    version applies and blocks no Practitioner/<id>. One naming nothing (`#`) is still malformed."""
    land("fhir", "role.ndjson", ROLE)
    land("fhir", "v1.ndjson", _appointment("2026-11-20T12:00:00Z", "Practitioner/P1"))
    process(store, "2027-01-04", 1)
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T10:00Z"), ("2027-01-04T11:00Z", "2027-01-04T17:00Z")]
    contained = '"contained":[{"resourceType":"Practitioner","id":"locum","name":[{"family":"Locum"}]}],'
    land("fhir", "v2.ndjson", _appointment("2026-11-21T12:00:00Z", "#locum", contained)
         + _appointment("2026-11-21T12:00:00Z", "#", contained).replace('"AP1"', '"AP2"'))
    process(store, "2027-01-04", 1)
    assert [(q["position"], q["reason"]) for q in quarantined(store, "fhir")] == [(2, "no Practitioner participant")]
    assert spans_on(store, "fhir", "P1", "2027-01-04") == [("2027-01-04T09:00Z", "2027-01-04T17:00Z")]
