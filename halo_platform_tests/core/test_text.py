import pytest

from halo_platform.core.errors import HaloError
from halo_platform.core.text import as_one_line, check_one_line, lone_surrogate, required_reason


def test_a_lone_surrogate_is_found_where_it_is_and_valid_text_has_none():
    assert lone_surrogate("ok \ud800 then \udfff") == 3
    assert lone_surrogate("\U0001f600 émoji, 中文, \x00") is None
    assert lone_surrogate("") is None


@pytest.mark.parametrize("control", ["\u202e", "\u202a", "\u202b", "\u202c", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_a_reason_or_name_with_a_bidirectional_control_is_refused_as_it_would_show_other_text(control):
    """A provider switch's reason `x\\u202egnp.exe` showed as `xexe.png` in the history, the state
    changes and `halo delivery providers` (the text after U+202E is shown right to left): audit
    text that reads otherwise than it was typed. Arabic and Hebrew text need none of these."""
    with pytest.raises(HaloError, match=f"control character U\\+{ord(control):04X}"):
        required_reason(f"x{control}gnp.exe")
    with pytest.raises(HaloError, match="control character"):
        check_one_line(f"ada{control}", "updated_by")
    assert as_one_line(f"a{control}b") == "a b"
    assert required_reason("تم إيقاف المزود مؤقتا") == "تم إيقاف المزود مؤقتا" and check_one_line("שלום", "name") == "שלום"
