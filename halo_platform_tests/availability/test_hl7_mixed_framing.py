"""An HL7 file that mixes MLLP frames with newline-parted messages: every message is read,
by both readers (row by row and columnar). Before, any MLLP byte in a file made the reader split
at frame ends only: the newline-parted messages ahead of the first frame became one message
(the first one's appointment, blocked on every AIP of the others) and the rest vanished, with
nothing quarantined."""

from halo_platform.availability.feeds import hl7
from halo_platform_tests.availability.test_golden_hl7 import MLLP, NEWLINES


def appointment_ids(parsed) -> list[str]:  # noqa: ANN001
    return sorted(e.item_id for e in parsed.events)


def test_newline_parted_messages_before_between_and_after_mllp_frames_are_each_read():
    alone = appointment_ids(hl7.parse(NEWLINES.encode(), "a.hl7")) + appointment_ids(hl7.parse(MLLP.encode(), "b.hl7"))
    assert len(alone) == 13
    half = NEWLINES.index("\n\nMSH", len(NEWLINES) // 2)
    mixed = NEWLINES[:half] + "\n" + MLLP + NEWLINES[half:]
    parsed = hl7.parse(mixed.encode(), "mixed.hl7")
    assert appointment_ids(parsed) == sorted(alone) and not parsed.rejected
    columnar = hl7.columns(mixed.encode(), "mixed.hl7")
    assert columnar is not None and columnar.events.num_rows == 13
