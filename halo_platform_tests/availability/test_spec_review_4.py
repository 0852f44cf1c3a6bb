"""Spec review of emr.md (fourth pass): FHIR working hours given to the second (a FHIR `time` is
HH:MM:SS), kept in whole minutes without ever widening the hours a provider works; a role's booleans
of the wrong JSON type. (A provider id with a NUL character, one answer on every store: test_api_errors.)"""

import json

import pytest

from halo_platform.availability.feeds import fhir
from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_columnar_reading import assert_same_columns

TZ = '"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"UTC"}]'


def _role(start: str, end: str, provider: str = "F1") -> str:
    return (f'{{"resourceType":"PractitionerRole","id":"R{provider}","meta":{{"lastUpdated":"2026-11-20T12:00:00Z"}},{TZ},'
            f'"practitioner":{{"reference":"Practitioner/{provider}"}},'
            f'"availableTime":[{{"daysOfWeek":["mon"],"availableStartTime":"{start}","availableEndTime":"{end}"}}]}}\n')


@pytest.mark.parametrize(("start", "end", "minutes"), [
    ("08:00:30", "23:59:59", [(481, 1439)]),  # was 08:00-23:59: half a minute before the provider starts
    ("08:00:00.5", "17:00:00", [(481, 1020)]),
    ("09:00:00", "17:00:59", [(540, 1020)]),
    ("08:00:30", "08:00:45", []),  # fifteen seconds: was 08:00-08:00, a whole day of work
    ("23:59:30", "00:00:30", []),  # a minute across midnight, no whole minute in it: was 23:59-00:00
    ("22:00:30", "06:00:30", [(1321, 360)]),  # a night: its start rounds up, its end down, past midnight
    ("08:00:30", "08:00:30", [(481, 480)]),  # end not after start: 24 hours from 08:00:30, minus its part minutes
    ("08:00:00", "08:00:00", [(480, 480)]),
    ("09:00:00", "24:00:00", [(540, 0)]),
    ("09:00", "17:00", [(540, 1020)]),
])
def test_fhir_working_hours_given_to_the_second_keep_only_the_whole_minutes_inside_them(start, end, minutes):
    """FHIR R4 `availableStartTime`/`availableEndTime` are `time`s, HH:MM:SS[.fraction]. The parser
    kept their first five characters, so 08:00:30 started work at 08:00 and a 15-second interval
    became a whole day. Both readings of the file (per record and column-wise) agree."""
    data = _role(start, end).encode()
    parsed = fhir.parse(data)
    assert parsed.rejected == []
    assert [(h.start_minute, h.end_minute) for e in parsed.events for h in e.hours] == minutes
    assert_same_columns("fhir", "r.ndjson", data)


@pytest.mark.parametrize("value", ["08:00garbage", "08:00:3", "8:00:00", "08:00:00Z", "24:00:01", "08:00:00.1234567890"])
def test_a_fhir_time_of_day_with_anything_after_its_minutes_that_is_no_time_is_quarantined(value):
    """"08:00garbage" was read as 08:00."""
    parsed = fhir.parse(_role(value, "17:00:00").encode())
    assert parsed.events == []
    assert [r.reason for r in parsed.rejected] == [f"invalid time of day {value!r}"]


def test_fhir_hours_given_to_the_second_give_spans_inside_them(store):
    land("fhir", "roles.ndjson", _role("08:00:30", "23:59:59") + _role("12:00:10", "12:00:50", "F2"))
    process(store, "2027-01-04", 1)
    assert quarantined(store) == []
    assert spans_on(store, "fhir", "F1", "2027-01-04") == [("2027-01-04T08:01Z", "2027-01-04T23:59Z")]
    assert spans_on(store, "fhir", "F2", "2027-01-04") == []


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("allDay", "false", "allDay is not a boolean: 'false'"),  # was read as true: hours of 24 hours
    ("allDay", 1, "allDay is not a boolean: 1"),
    ("active", "false", "active is not a boolean: 'false'"),  # was read as active
    ("active", 0, "active is not a boolean: 0"),
    ("daysOfWeek", "mon", "daysOfWeek is not a list: 'mon'"),
    ("daysOfWeek", {"mon": True}, "daysOfWeek is not a list: {'mon': True}"),  # was read as its keys: Monday
])
def test_a_role_field_of_the_wrong_json_type_is_quarantined_not_read_for_its_truth(field, value, reason):
    """"Bad input never stops a batch ... goes to emr_quarantine", "wrong JSON types" included;
    `"allDay": "false"` made the provider free around the clock."""
    role = json.loads(_role("09:00:00", "12:00:00"))
    (role if field == "active" else role["availableTime"][0])[field] = value
    data = (json.dumps(role) + "\n").encode()
    parsed = fhir.parse(data)
    assert parsed.events == []
    assert [r.reason for r in parsed.rejected] == [reason]
    assert_same_columns("fhir", "r.ndjson", data)


@pytest.mark.parametrize(("field", "value", "minutes"), [("allDay", True, [(0, 0)]), ("allDay", False, [(540, 720)]),
                                                         ("allDay", None, [(540, 720)]), ("active", False, []),
                                                         ("active", True, [(540, 720)]), ("active", None, [(540, 720)])])
def test_a_role_s_booleans_as_fhir_writes_them_are_read(field, value, minutes):
    role = json.loads(_role("09:00:00", "12:00:00"))
    (role if field == "active" else role["availableTime"][0])[field] = value
    parsed = fhir.parse(json.dumps(role).encode())
    assert parsed.rejected == []
    assert [(h.start_minute, h.end_minute) for e in parsed.events for h in e.hours] == minutes


