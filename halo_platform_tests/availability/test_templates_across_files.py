"""hl7 working-hours templates across files (spec emr.md, "Templates across files"): a provider's
weekly template is the set of all its rows carrying its highest version, whichever landed files
they came in. A later file with a higher version replaces, the same version adds, a lower version
is ignored, and the order of arrival never matters."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.landing import pending
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process, spans_on

HEADER = "provider_id,timezone,weekday,start,end,version\n"
V1, V2 = "2026-11-20T10:00:00Z", "2026-11-21T10:00:00Z"
MONDAY = "2027-01-04"


def template(*rows: tuple[str, str, str, str]) -> str:
    """rows of (provider, start, end, version) on Mondays, Europe/London (UTC in January)."""
    return HEADER + "".join(f"{p},Europe/London,mon,{s},{e},{v}\n" for p, s, e, v in rows)


FILES = {
    "morning.csv": template(("DR1", "08:00", "10:00", V1), ("DR2", "08:00", "09:00", V1)),
    "afternoon.csv": template(("DR1", "14:00", "16:00", V1)),
    "evening.csv": template(("DR1", "18:00", "19:00", V1), ("DR2", "12:00", "13:00", V2)),
    "old.csv": template(("DR2", "20:00", "21:00", "2026-11-01T10:00:00Z")),
}
EXPECTED = {
    # DR1: version V1 in three files, all rows add up
    "DR1": [(f"{MONDAY}T08:00Z", f"{MONDAY}T10:00Z"), (f"{MONDAY}T14:00Z", f"{MONDAY}T16:00Z"), (f"{MONDAY}T18:00Z", f"{MONDAY}T19:00Z")],
    # DR2: V2 (evening.csv) replaces V1 (morning.csv); the older old.csv is ignored
    "DR2": [(f"{MONDAY}T12:00Z", f"{MONDAY}T13:00Z")],
}


def apply_in_order(store: StoreResource, names: tuple[str, ...]) -> None:
    """Land and apply each file in its own batch (as a file arriving alone would be), recomputing after each."""
    feed = get_feed("hl7")
    for name in names:
        land("hl7", name, FILES[name])
        files = pending(feed, pipeline.processed_files(store, "hl7"))
        pipeline.ingest_feeds(store, [(feed, files)])
        pipeline.recompute_spans(store, ["hl7"], dt.date.fromisoformat(MONDAY), 3)


@pytest.mark.parametrize("order", list(itertools.permutations(FILES)))
def test_template_rows_of_one_version_add_up_across_files_whatever_the_order_of_arrival(halo_env, order, store):
    apply_in_order(store, order)
    assert {p: spans_on(store, "hl7", p, MONDAY) for p in EXPECTED} == EXPECTED


def test_templates_landed_together_add_up_and_a_replayed_template_changes_nothing(any_store):
    """SQLite, then PostgreSQL."""
    store = any_store
    for name, text in FILES.items():
        land("hl7", name, text)
    first = process(store, MONDAY, 3)
    assert (first.files, first.quarantined) == (4, 0)
    assert {p: spans_on(store, "hl7", p, MONDAY) for p in EXPECTED} == EXPECTED
    land("hl7", "afternoon-again.csv", FILES["afternoon.csv"])
    land("hl7", "morning-reordered.csv", template(("DR2", "08:00", "09:00", V1), ("DR1", "08:00", "10:00", V1)))
    again = process(store, MONDAY, 3)
    assert (again.files, again.items_changed) == (2, 0)
    assert {p: spans_on(store, "hl7", p, MONDAY) for p in EXPECTED} == EXPECTED


def test_a_higher_version_in_a_later_file_replaces_every_earlier_file_of_the_template(halo_env, store):
    apply_in_order(store, ("morning.csv", "afternoon.csv"))
    assert spans_on(store, "hl7", "DR1", MONDAY) == [(f"{MONDAY}T08:00Z", f"{MONDAY}T10:00Z"), (f"{MONDAY}T14:00Z", f"{MONDAY}T16:00Z")]
    land("hl7", "newer.csv", template(("DR1", "11:00", "12:00", V2)))
    process(store, MONDAY, 3)
    assert spans_on(store, "hl7", "DR1", MONDAY) == [(f"{MONDAY}T11:00Z", f"{MONDAY}T12:00Z")]
