# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Control Center defects found in review ui16 (each test failed before its fix): the key form
showed a rate out of range or a past expiry date only once the name was right, one error per
submit."""

from __future__ import annotations

from halo_platform.access.keys import list_keys
from halo_platform_tests.ui.test_form_refusals import _error, _html
from halo_platform_tests.ui.test_page_edges import admin, app, store  # noqa: F401 - the same seeded store, app and clients


def test_the_key_form_shows_a_bad_name_a_rate_out_of_range_and_a_past_expiry_at_once(admin, store) -> None:  # noqa: ANN001
    """A name with a space, a rate of 0 and an expiry in 2020: only the name's error was shown (the
    rate and the date were checked when the key was made, after the name's); the next submit showed
    the rate's, the one after the date's. Now all three, beside their fields, in one answer."""
    form = {"csrf_token": admin.csrf, "name": "bad name", "scope": "tasks:read", "rate": "0", "expires": "2020-01-01"}
    page = _html(admin.post("/ui/access/keys", data=form), 422)
    assert "letters, digits" in _error(page, "key.name")
    assert _error(page, "key.rate").startswith("must be a number of requests per second in (0, ")
    assert _error(page, "key.expires") == "2020-01-01 is not in the future"
    assert 'value="bad name"' in page and 'value="0"' in page and 'value="2020-01-01"' in page
    assert list_keys(store) == []
