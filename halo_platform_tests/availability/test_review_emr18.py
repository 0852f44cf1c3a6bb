"""Review of the EMR availability interfaces beyond the first version (emr18): what a demanding
client meets paging, and the answers REST, GraphQL and FHIR give for the same spans.

The FHIR fixtures are test_fhir_slots': Asia/Kolkata (+05:30), F1 works 09:00-12:00 local and
is booked 10:00-10:30 on `day`, a week ahead; 30-minute slots aligned to 30 minutes."""

import datetime as dt
from urllib.parse import parse_qsl, urlsplit

import pytest

from halo_platform.availability.fhir_api import search_slots
from halo_platform.http import create_app
from halo_platform_tests.availability.test_fhir_slots import day, feeds_file  # noqa: F401 (fixtures)
from halo_platform_tests.fixtures.access import authorized_client

BASE = "http://testserver/fhir/Slot"


def starts(body: dict) -> list[str]:
    return [e["resource"]["start"] for e in body.get("entry", ())]


def test_paging_a_slot_search_without_a_lower_bound_neither_skips_nor_repeats_a_slot_as_time_passes(store, day):  # noqa: F811
    """Without `start=ge..` a search starts at now. Its `next` link named only `_offset`, so the
    page it led to started at the *new* now: once a slot's start had passed between two pages,
    the offset counted from one slot later and a slot was never listed (05:30Z here; a `start`
    including the current time lost it alike, the passed slot being no longer bookable). The links
    now name `_at`, the instant the first page was answered as of, so every page is one of its matches."""
    params = [("schedule", "Schedule/fhir.F1"), ("_count", "2")]
    first_now = dt.datetime.combine(day, dt.time(3, 40), tzinfo=dt.UTC)  # 09:10 IST, before the 09:30 slot
    whole = search_slots(store, [("schedule", "Schedule/fhir.F1")], BASE, now=first_now)
    seen, page, now = [], search_slots(store, params, BASE, now=first_now), first_now
    while True:
        seen += starts(page)
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        now += dt.timedelta(minutes=30)  # the client reads each page half an hour after the last
        url = urlsplit(following[0])
        page = search_slots(store, parse_qsl(url.query), BASE, now=now)
    assert starts(whole)[:4] == [f"{day}T04:00:00Z", f"{day}T05:00:00Z", f"{day}T05:30:00Z", f"{day}T06:00:00Z"]
    assert seen == starts(whole)


@pytest.mark.parametrize("at, reason", [
    ("2027-13-01T00:00:00Z", "_at: expected an instant"),
    ("0001-01-01T00:00:00+01:00", "_at: expected an instant"),  # before year 1 in UTC
    ("0001-01-01T00:00:00Z", "_at: 0001-01-01 is out of range"),  # its link's _at=1-01-01T00:00:00Z was refused
    ("9999-12-31T23:59:59Z", "_at: 9999-12-31T23:59:59Z is after now"),
    # a link is for paging on, not for reading the past: slots long started were listed as free
    ("2020-01-01T00:00:00Z", "_at: 2020-01-01T00:00:00Z is more than a day ago"),
])
def test_a_slot_search_as_of_no_instant_or_a_future_one_is_a_422(store, day, at, reason):  # noqa: F811
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/fhir.F1", "_at": at})
    assert answer.status_code == 422 and answer.json()["error"].startswith(reason), answer.text


@pytest.mark.parametrize("count, offset, previous", [
    ("0", "2", None),  # a count of none: its previous page was itself, a client following it looped
    ("2", "100", "3"),  # past the end: its previous page was 98, and 47 empty pages came before any slot
    ("2", "6", "3"),  # just past the end: 4, one slot
    ("2", "3", "1"),  # inside: the page before, as it was
])
def test_a_slot_pages_previous_link_leads_to_slots_and_never_to_itself(store, day, count, offset, previous):  # noqa: F811
    """F1's local day has 5 slots. A page's `previous` link is the `count` matches before it, the
    last ones when the page is past the end; a page of `_count=0` (the total alone) has none."""
    params = [("schedule", "Schedule/fhir.F1"), ("start", f"eq{day}"), ("_count", count), ("_offset", offset)]
    body = search_slots(store, params, BASE)
    assert body["total"] == 5
    links = [link["url"] for link in body["link"] if link["relation"] == "previous"]
    if previous is None:
        assert not links
        return
    query = parse_qsl(urlsplit(links[0]).query)
    assert dict(query)["_offset"] == previous
    assert len(search_slots(store, query, BASE)["entry"]) == int(count)
