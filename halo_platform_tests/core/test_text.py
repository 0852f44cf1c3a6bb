from halo_platform.core.text import lone_surrogate


def test_a_lone_surrogate_is_found_where_it_is_and_valid_text_has_none():
    assert lone_surrogate("ok \ud800 then \udfff") == 3
    assert lone_surrogate("\U0001f600 émoji, 中文, \x00") is None
    assert lone_surrogate("") is None
