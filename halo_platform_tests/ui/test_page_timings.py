"""The page timings file the browser tests share: three test workers record into it at once."""

from __future__ import annotations

import json
import multiprocessing
import time

from halo_platform_tests.ui.conftest import record_timing


def _record(args: tuple[str, str, int, float]) -> None:
    timings, path, times, start_at = args
    time.sleep(max(0.0, start_at - time.time()))  # all at once, however long each took to start
    for i in range(times):
        record_timing(path, float(i), timings)


def test_timings_recorded_by_processes_at_once_are_all_kept_and_the_file_always_reads(tmp_path):
    """Each worker read the file, added its page and wrote it back: a worker reading while another
    wrote read a half-written file, and a JSONDecodeError failed a browser test in CI; two writing
    at once lost one's timings. One records at a time now, and a write replaces the file whole.
    The processes are spawned: forked from a test worker (its threads: servers, SQLite checkpoints),
    one died holding the pool's queue lock and the others waited on it for good (CI, 600 s timeout)."""
    timings = tmp_path / "page-timings.json"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_record, [(str(timings), f"/ui/page{n}", 60, time.time() + 3) for n in range(4)])
    assert {path: len(ms) for path, ms in json.loads(timings.read_text()).items()} == {f"/ui/page{n}": 60 for n in range(4)}
