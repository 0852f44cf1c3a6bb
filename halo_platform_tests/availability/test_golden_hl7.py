"""hl7 feed (SIU messages + CSV working-hours templates), end to end, against spans computed by hand.

America/New_York springs forward on Sunday 2027-03-14 at 02:00 (EST -05:00 -> EDT -04:00):
02:30 that night does not exist and, with fold=0, means 02:30 EST = 07:30Z (03:30 EDT)."""

import pytest

from halo_platform.availability.service import quarantined
from halo_platform_tests.availability.helpers import land, process, spans_on

TEMPLATES = """\
provider_id,timezone,weekday,start,end,version
DR1,America/New_York,sun,01:00,05:00,2026-11-20T10:00:00Z
DR1,America/New_York,mon,09:00,17:00,2026-11-20T10:00:00Z
DR1,America/New_York,sun,08:00,09:00,2026-11-01T10:00:00Z
DR2,America/New_York,sun,02:30,04:00,2026-11-20T10:00:00Z
DR3,America/New_York,sat,20:00,04:00,2026-11-20T10:00:00Z
"""


def msg(*segments: str) -> str:
    return "\r".join(segments)


MSH = "MSH|^~\\&|EMR|CLINIC|HALO|HALO|{version}||SIU^{trigger}^SIU_{trigger}|{control}|P|2.5"

# MLLP-framed: APT1 with local TQ1 times, APT2 with SCH-11 offsets, APT6 from AIS start + duration on two providers
MLLP = "".join("\x0b" + m + "\x1c\r" for m in [
    msg(MSH.format(version="20261120100000", trigger="S12", control="1"),
        "SCH|P1|APT1^EMR|||||||||||||||||||||||Booked",
        "TQ1|1||||||202703140130|202703140145",
        "AIP|1||DR1^Who^Doctor|||"),
    msg(MSH.format(version="20261120100000", trigger="S12", control="2"),
        "SCH|P2|APT2^EMR|||||||||^^^202703140330-0400^202703140400-0400",
        "AIP|1||DR1^Who^Doctor"),
    msg(MSH.format(version="20261120100000", trigger="S12", control="3"),
        "SCH|P6|APT6^EMR",
        "AIS|1||CONSULT^Consultation|202703140330|||15|MIN",
        "AIP|1||DR1^Who^Doctor",
        "AIP|2||DR2^Other^Doctor"),
])

# newline-framed (blank lines between messages): reschedule, cancel, delete + older upsert, blocks, waitlist
NEWLINES = "\n\n".join([
    msg(MSH.format(version="20261120100000", trigger="S12", control="4"),
        "SCH|P3|APT3^EMR|||||||||^^^202703151000^202703151100", "AIP|1||DR1"),
    msg(MSH.format(version="20261120110000", trigger="S13", control="5"),
        "SCH|P3|APT3^EMR|||||||||^^^202703140430^202703140500", "AIP|1||DR1"),
    msg(MSH.format(version="20261120100000", trigger="S12", control="6"),
        "SCH|P4|APT4^EMR|||||||||^^^202703151300^202703151400", "AIP|1||DR1"),
    msg(MSH.format(version="20261120120000", trigger="S15", control="7"),
        "SCH|P4|APT4^EMR|||||||||^^^202703151300^202703151400", "AIP|1||DR1"),
    msg(MSH.format(version="20261121100000", trigger="S17", control="8"), "SCH|P5|APT5^EMR"),
    msg(MSH.format(version="20261120090000", trigger="S12", control="9"),
        "SCH|P5|APT5^EMR|||||||||^^^202703151500^202703151600", "AIP|1||DR1"),
    msg(MSH.format(version="20261120100000", trigger="S23", control="10"),
        "SCH|B1|BLK1^EMR", "TQ1|1||||||202703132200|202703132300", "AIP|1||DR3"),
    msg(MSH.format(version="20261120100000", trigger="S23", control="11"),
        "SCH|B2|BLK2^EMR", "TQ1|1||||||202703132100|202703132200", "AIP|1||DR3"),
    msg(MSH.format(version="20261120110000", trigger="S24", control="12"), "SCH|B2|BLK2^EMR"),
    msg(MSH.format(version="20261120100000", trigger="S12", control="13"),
        "SCH|P7|APT7^EMR|||||||||^^^202703151000^202703151100||||||||||||||waitlist", "AIP|1||DR1"),
]) + "\n"


@pytest.fixture
def processed(halo_env, store):
    land("hl7", "templates.csv", TEMPLATES)
    land("hl7", "batch-mllp.hl7", MLLP)
    land("hl7", "batch-lines.hl7", NEWLINES)
    return process(store, "2027-03-12", 5)


def test_the_dst_sunday_template_runs_three_real_hours_minus_appointments_from_every_interval_rule(processed, store):
    # work 01:00 EST (06:00Z) -> 05:00 EDT (09:00Z); APT1 06:30-06:45 (local TQ1), APT2 07:30-08:00 (SCH-11 offsets),
    # APT6 07:30-07:45 (AIS start + 15 MIN), APT3 rescheduled to 04:30-05:00 EDT = 08:30-09:00Z
    assert spans_on(store, "hl7", "DR1", "2027-03-14") == [
        ("2027-03-14T06:00Z", "2027-03-14T06:30Z"),
        ("2027-03-14T06:45Z", "2027-03-14T07:30Z"),
        ("2027-03-14T08:00Z", "2027-03-14T08:30Z"),
    ]


def test_the_monday_after_is_free_after_a_reschedule_a_cancel_a_delete_and_a_waitlist(processed, store):
    # 09:00-17:00 EDT; APT3 moved away, APT4 cancelled (S15), APT5 deleted before an older S12 arrived, APT7 waitlist
    assert spans_on(store, "hl7", "DR1", "2027-03-15") == [("2027-03-15T13:00Z", "2027-03-15T21:00Z")]


def test_a_template_start_inside_the_dst_gap_moves_forward_and_a_repeated_aip_blocks_each_provider(processed, store):
    # 02:30 (non-existent) -> 07:30Z, 04:00 EDT -> 08:00Z; APT6 07:30-07:45 listed DR2 in a second AIP
    assert spans_on(store, "hl7", "DR2", "2027-03-14") == [("2027-03-14T07:45Z", "2027-03-14T08:00Z")]


def test_an_overnight_shift_into_the_dst_night_keeps_its_block_and_drops_the_unblocked_one(processed, store):
    # Sat 20:00 EST (01:00Z) -> Sun 04:00 EDT (08:00Z); BLK1 22:00-23:00 EST = 03:00-04:00Z; BLK2 removed by S24
    assert spans_on(store, "hl7", "DR3", "2027-03-13") == [
        ("2027-03-14T01:00Z", "2027-03-14T03:00Z"),
        ("2027-03-14T04:00Z", "2027-03-14T08:00Z"),
    ]


def test_nothing_was_quarantined_and_every_message_counted(processed, store):
    assert quarantined(store, "hl7") == []
    assert (processed.files, processed.events) == (3, 5 + 3 + 10)  # each template row is a record, as each message is


def test_a_duplicated_mllp_file_changes_nothing(processed, store):
    land("hl7", "batch-mllp-again.hl7", MLLP)
    again = process(store, "2027-03-12", 5)
    assert (again.files, again.events, again.items_changed, again.provider_dates) == (1, 3, 0, 0)
