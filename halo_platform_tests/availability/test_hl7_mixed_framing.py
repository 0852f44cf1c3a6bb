"""An HL7 file that mixes MLLP frames with newline-parted messages: every message is read,
by both readers (row by row and columnar). Before, any MLLP byte in a file made the reader split
at frame ends only: the newline-parted messages ahead of the first frame became one message
(the first one's appointment, blocked on every AIP of the others) and the rest vanished, with
nothing quarantined."""

import re
import string

import hypothesis.strategies as st
from hypothesis import given, settings

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


_NEXT_MESSAGE = re.compile(rf"\r[\s\ufeff]*(?=MSH[{re.escape(string.punctuation)}])")
_MLLP_BLOCK = re.compile("[\x0b\x1c]")
_ENDS = re.compile(r"[\s\ufeff]*(.*?)[\s\ufeff]*", re.DOTALL)


def split_by_regex(text: str) -> list[tuple[int, str]]:
    """The framing rule as two regex splits: at each MLLP byte, then at each line break followed by
    whitespace and BOMs (or none) before `MSH` and a field separator; the parts' whitespace and BOMs
    at either end stripped, empty parts dropped."""
    normal = text.replace("\r\n", "\r").replace("\n", "\r")
    chunks = (_ENDS.fullmatch(m).group(1) for frame in _MLLP_BLOCK.split(normal) for m in _NEXT_MESSAGE.split(frame))
    return list(enumerate((c for c in chunks if c), start=1))


PIECES = ["\r", "\n", "\r\n", "\x0b", "\x1c", "MSH", "M", "SH", "|", "#", "x", " ", "\t", "\u2028", "\x85", "\ufeff", "\rMSH", "MSH|",
          "\r\rMSH#", "\rMSH\rMSH|", "MSHX", "\r \ufeffMSH|"]


@settings(max_examples=3000, deadline=None, database=None)
@given(st.lists(st.sampled_from(PIECES), max_size=16))
def test_messages_split_where_the_framing_rule_splits_them(pieces):
    """Runs of `\\r`, whitespace and BOMs before an MSH, an MSH not followed by a field separator or at the very end,
    blank and whitespace-only parts, MLLP bytes anywhere: the same messages as the rule's regexes."""
    text = "".join(pieces)
    assert list(enumerate(hl7.split_messages(text), start=1)) == split_by_regex(text)
