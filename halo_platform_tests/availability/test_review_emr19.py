"""EMR ingestion review 19: a file's receipt is when it came into the landing zone, whatever
modification time it carries; the quarantined records of a landed file's earlier content are not
shown as the current content's."""

import datetime as dt
import os
import shutil

import pytest

from halo_platform.availability.freshness import freshness
from halo_platform.core.settings import get_settings
from halo_platform_tests.availability.helpers import process

DAY = "2027-01-04"  # a Monday
HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","17:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')
MONTH_OLD = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).timestamp()


def _copied_keeping_times(source, target) -> None:  # noqa: ANN001
    shutil.copy2(source, target)  # cp -p, rsync -t


def _moved(source, target) -> None:  # noqa: ANN001
    os.rename(source, target)  # mv within the file system


@pytest.mark.parametrize("arrive", [_copied_keeping_times, _moved])
def test_a_file_arriving_with_an_old_modification_time_is_received_when_it_arrived(halo_env, store, tmp_path, arrive):
    """An EMR's export written a month ago, then copied in with `cp -p`/`rsync -t` or moved in with
    `mv`, keeps its month-old modification time: taken for its receipt, the feed's lag read a month
    (and its freshness check failed) right after its events were applied. Its receipt is when it
    came into the landing zone."""
    source = tmp_path / "hours.jsonl"
    source.write_text(HOURS)
    os.utime(source, (MONTH_OLD, MONTH_OLD))
    folder = get_settings().landing_dir / "acme"
    folder.mkdir(parents=True)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    arrive(source, folder / "hours.jsonl")
    assert (folder / "hours.jsonl").stat().st_mtime == MONTH_OLD
    process(store, DAY, 1)
    found = freshness(store, "acme")
    assert before <= found.received_at <= dt.datetime.now(dt.UTC), found
    assert found.lag_seconds < 60, found
