"""Planning a run: the dates its pending files impact. A file too big to parse for planning
impacts the whole window; once the window is whole, the feed's other pending files are not parsed
for planning (they can add no date; parsing the working-hours files of thousands of providers
cost about a second per run), while without such a file each small file is parsed for its dates."""

import datetime as dt

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import load_feeds
from halo_platform_tests.availability.helpers import land

AS_OF, DAYS = dt.date(2027, 1, 4), 5


def appointment(i: int, day: str) -> str:
    return (f'{{"type":"appointment","action":"upsert","id":"A{i}","provider":"P1","start":"{day}T09:00:00","duration_min":30,'
            f'"tz":"Europe/Paris","status":"booked","updated_at":"2026-11-01T00:00:00Z"}}\n')


def parsed_files(monkeypatch) -> list[str]:  # noqa: ANN001
    """Names of the files planning parses (the real parser still runs)."""
    seen: list[str] = []
    real = pipeline.parse_file

    def spy(feed, file):  # noqa: ANN001, ANN202
        seen.append(file.path.name)
        return real(feed, file)

    monkeypatch.setattr(pipeline, "parse_file", spy)
    return seen


def test_after_a_file_impacting_the_whole_window_the_other_files_are_not_parsed_for_planning(halo_env, store, monkeypatch):
    land("acme", "a_burst.jsonl", "".join(appointment(i, "2027-01-05") for i in range(pipeline.PARSE_FOR_DATES_LIMIT_BYTES // 150)))
    land("acme", "b_one.jsonl", appointment(0, "2027-01-06"))
    seen = parsed_files(monkeypatch)
    assert pipeline.planned_dates(store, load_feeds()["acme"], AS_OF, DAYS) == {AS_OF + dt.timedelta(days=i) for i in range(DAYS)}
    assert seen == []


def test_small_files_are_parsed_for_the_dates_they_impact(halo_env, store, monkeypatch):
    land("acme", "b_one.jsonl", appointment(0, "2027-01-06"))
    land("acme", "c_two.jsonl", appointment(1, "2027-01-04"))
    seen = parsed_files(monkeypatch)
    assert pipeline.planned_dates(store, load_feeds()["acme"], AS_OF, DAYS) == {AS_OF + dt.timedelta(days=i) for i in range(4)}
    assert sorted(seen) == ["b_one.jsonl", "c_two.jsonl"]
