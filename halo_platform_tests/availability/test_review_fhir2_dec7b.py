"""Review fhir2 dec7b: a FHIR Slot search without an upper bound on `start` looks at 7 local days
from its lower bound (README "FHIR read API"), not 7 x 24 hours; a session's `csrf_token` form
field (access.md: every form POST of a session carries it) is no search parameter, also under
`Prefer: handling=strict`; and a token's `\\,` `\\|` `\\$` `\\\\` are escapes (FHIR R4 search.html#escaping),
not separators.

The DST fixture is an acme provider in Europe/Berlin or America/New_York working 08:00-12:00 local
every day, 30-minute slots bookable 30 days ahead; now is 09:00 local a week before the clocks
change. The FHIR fixtures (F1, `day`) are test_review_fhir19's: 10 `short` slots on `day`."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle

from halo_platform.access import users
from halo_platform.availability.fhir_api import search_slots, split_escaped, unescaped
from halo_platform.http import create_app
from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir19 import feeds_file  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir_dec7b import DST, get, works_8_to_12
from halo_platform_tests.fixtures.access import signed_in_client

BASE = "http://testserver/fhir/Slot"


@pytest.fixture(params=DST, ids=["Europe/Berlin-spring", "America/New_York-spring", "America/New_York-fall"])
def week_over_dst(request, halo_env, tmp_path, monkeypatch, store) -> tuple[ZoneInfo, dt.datetime, str, list[str]]:
    """P1 (acme) works 08:00-12:00 local every day, bookable 30 days ahead (not the week's end)."""
    zone, now, edge_day, found = request.param
    works_8_to_12(store, tmp_path, monkeypatch, zone, now, 30)
    return ZoneInfo(zone), dt.datetime.fromisoformat(now), edge_day, found


def starts_on(body: dict, on: str) -> list[str]:
    """The UTC hh:mm of the entries starting on the UTC date `on`, the Bundle validated against R4B."""
    Bundle.model_validate(body)
    return [e["resource"]["start"][11:16] for e in body.get("entry", ()) if e["resource"]["start"].startswith(on)]


@pytest.mark.parametrize("lower", ["now", "ge an instant", "ge a local time"])
def test_a_search_without_an_upper_bound_looks_at_7_local_days_across_a_dst_change(store, week_over_dst, lower):
    """From 09:00 local, 7 days are up to 09:00 local 7 dates later, as max_days_ahead counts them
    (slots.horizon): 7 x 24 hours ended at 10:00 local when the clocks sprang forward (08:00 when
    they fell back, which left none that morning)."""
    zone, now, edge_day, found = week_over_dst
    start = {"now": [], "ge an instant": [("start", f"ge{now.strftime('%Y-%m-%dT%H:%M:%SZ')}")],
             "ge a local time": [("start", f"ge{now.astimezone(zone).strftime('%Y-%m-%dT%H:%M:%S')}")]}[lower]
    # asked an hour later, the 7 days are from the lower bound, not from now
    asked_at = now if lower == "now" else now + dt.timedelta(hours=1)
    body = search_slots(store, [("schedule", "Schedule/acme.P1"), *start], BASE, now=asked_at)
    assert starts_on(body, edge_day) == found, body["total"]
    assert body["total"] == 6 + 6 * 8 + len(found) - (lower != "now") * 2  # an hour later: the first day's 09:00 and 09:30 have gone


def test_a_session_s_csrf_token_field_is_no_search_parameter_also_under_handling_strict(store, day):  # noqa: F811
    """A browser's form carries its session's `csrf_token` (access.md), which the CSRF check reads:
    under `Prefer: handling=strict` it was refused as a parameter this server does not support."""
    users.create_user(store, "vera", "viewer", "a long enough password")
    client = signed_in_client(create_app({"store": store}), "vera", "a long enough password")
    data = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": "short", "csrf_token": client.csrf}
    answer = client.post("/fhir/Slot/_search", data=data, headers={"Prefer": "handling=strict"})
    assert answer.status_code == 200 and answer.json()["total"] == 10, answer.text
    assert all("csrf_token" not in link["url"] for link in answer.json()["link"])
    # another unknown field still is refused
    answer = client.post("/fhir/Slot/_search", data={**data, "colour": "blue"}, headers={"Prefer": "handling=strict"})
    assert answer.status_code == 422 and "colour: not a search parameter" in answer.json()["error"], answer.text


@pytest.mark.parametrize("value, parts", [
    ("a,b", ["a", "b"]),
    (r"a\,b,c", [r"a\,b", "c"]),
    (r"a\\,b", [r"a\\", "b"]),  # an escaped backslash does not escape the comma after it
    (r"a\|b|c", [r"a\|b", "c"]),
    ("a,", ["a", ""]),
    ("", [""]),
])
def test_a_token_splits_at_its_unescaped_separators_only(value, parts):
    separator = "|" if "|" in value else ","
    assert split_escaped(value, separator) == parts


def test_a_token_s_escapes_are_its_own_characters():
    assert [unescaped(p) for p in (r"a\,b", r"a\\", r"x\|y", r"\$z", r"q\n")] == ["a,b", "a\\", "x|y", "$z", r"q\n"]


@pytest.mark.parametrize("asked, total", [
    (r"x\,short", 0),  # one code, `x,short`, which no slot rule defines: it was `x\` or `short`, 10
    (r"short\,", 0),  # the code `short,`: it was `short` and an empty item, a 422
    (r"x\|short", 0),  # the code `x|short`, not the system `x\`
    (r"short,x\,y", 10),
])
def test_an_escaped_comma_is_part_of_a_service_type_code(store, day, asked, total):  # noqa: F811
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": asked})
    assert answer.status_code == 200 and answer.json()["total"] == total, answer.text


def test_an_escaped_comma_is_part_of_a_status_code(store, day):  # noqa: F811
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "status": r"free\,busy"})
    assert answer.status_code == 422 and "unknown 'free,busy'" in answer.json()["error"], answer.text
