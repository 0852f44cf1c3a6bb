"""`make run`: the Control Center (halo serve) comes up, dagster dev starts without the dagster.yaml double-location warning, a
file landed while it runs becomes spans the REST API answers (the landing sensor, the daemon's run queue and the run, end to
end), Ctrl-C (SIGINT to the terminal's process group) stops everything within 20 seconds, and the demo credentials it prints work."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from halo_platform.access import users
from halo_platform.access.keys import check_key
from halo_platform.core.store import StoreResource
from halo_platform.lab.ports import free_port

REPO = Path(__file__).resolve().parents[1]


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


# a provider working every day, so it has spans whatever today is
WEEK = json.dumps({day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})


def _runs(dagster_home: Path) -> str:
    """The instance's EMR runs, oldest first, as a failure message shows them: what the file waited for."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        records = instance.get_run_records(filters=dg.RunsFilter(job_name="emr_processing_job"), ascending=True)
        return "\n".join(f"{r.dagster_run.status.value:<11} created {r.create_timestamp:%H:%M:%S}, started {_clock(r.start_time)}, "
                         f"ended {_clock(r.end_time)}: {r.dagster_run.tags.get('halo/emr-file')}" for r in records)


def _clock(timestamp: float | None) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%H:%M:%S") if timestamp else "-"


def _spans_once_landed(halo_home: Path, halo_port: int, key: str, provider: str, within: float, log: Path) -> float:
    """Land a file of `provider`'s hours for the acme feed as an EMR drops one (written aside, then
    renamed in), and return the seconds until GET /v1/availability answers its spans; past `within`,
    fail naming the EMR runs and what they were doing."""
    part = halo_home / "landing" / "acme" / f".{provider}.jsonl.part"
    part.write_text(f'{{"type":"hours","provider":"{provider}","tz":"Europe/Paris","week":{WEEK},"updated_at":"2026-11-02T00:00:00Z"}}\n')
    landed = time.monotonic()
    part.rename(part.with_name(f"{provider}.jsonl"))
    request = urllib.request.Request(f"http://127.0.0.1:{halo_port}/v1/availability?feed=acme&provider_id={provider}",
                                     headers={"Authorization": f"Bearer {key}"})
    while time.monotonic() - landed < within:
        with urllib.request.urlopen(request, timeout=10) as answer:
            if json.load(answer)["spans"]:
                return time.monotonic() - landed
        time.sleep(0.5)
    raise AssertionError(f"no spans for a file landed {within:.0f} s ago (at {_clock(time.time())}); the EMR runs:\n"
                         f"{_runs(halo_home.parent / 'dagster_home')}\nthe end of make run's output:\n{log.read_text()[-3000:]}")


@pytest.mark.timeout(600)
def test_make_run_serves_the_ui_without_the_dagster_yaml_warning_and_stops_on_ctrl_c(tmp_path):
    port, halo_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))}
    env.update(HALO_HOME=str(tmp_path / "halo"), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    log = tmp_path / "make_run.log"
    with log.open("wb") as out:
        make = subprocess.Popen(["make", "-s", "run", f"DAGSTER_PORT={port}", f"HALO_PORT={halo_port}"], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while True:
                assert make.poll() is None, log.read_text()
                try:  # the Dagster UI and the Control Center's sign-in page
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as dagster, \
                         urllib.request.urlopen(f"http://127.0.0.1:{halo_port}/ui/login", timeout=2) as control_center:
                        if dagster.status == 200 and control_center.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(1)
            key = re.search(r"^demo API key [^:]*: (halo_\S+)$", log.read_text(), re.M).group(1)
            # the bounds are for a loaded CI machine: the first file waits for the demo's three feed runs
            # to be worked off, one at a time (37 s at load 3; over 150 s once, in a CI run on a machine
            # half as fast); the second is the steady state the 30 s goal is about (quiet: about 15 s,
            # the sensor's interval being 10 s)
            first = _spans_once_landed(tmp_path / "halo", halo_port, key, "ZZ9", within=300, log=log)
            then = _spans_once_landed(tmp_path / "halo", halo_port, key, "ZZ8", within=150, log=log)
            print(f"a landed file's spans answered {first:.1f} s after it landed (behind the demo's feeds), the next one's {then:.1f} s")
            os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            # `halo up` gives its children 8 s to stop, then kills them; the rest is slack for a busy
            # machine (a clean-clone run at load ~3 once took over 10 s)
            stopped_by = time.monotonic() + 20
            with contextlib.suppress(subprocess.TimeoutExpired):
                make.wait(timeout=20)  # reaps make: only its orphans could keep the group alive
            while _group_alive(make.pid) and time.monotonic() < stopped_by:
                time.sleep(0.2)
            assert make.returncode is not None, f"make still running 20 s after Ctrl-C\n{log.read_text()[-3000:]}"
            left = subprocess.run(["ps", "-o", "pid,etime,args", "-g", str(make.pid)], capture_output=True, text=True).stdout
            assert not _group_alive(make.pid), f"left 20 s after Ctrl-C:\n{left[:3000]}\n{log.read_text()[-3000:]}"
        finally:
            if _group_alive(make.pid):
                os.killpg(make.pid, signal.SIGKILL)
            make.wait(timeout=10)
    text = log.read_text()
    assert "dagster.yaml" not in text
    assert "HALO_ALERTS names a sink" not in text  # the demo's alerts reach their sink
    # the demo credentials it printed work: the key (every scope) and the admin's password
    key = re.search(r"^demo API key [^:]*: (halo_\S+)$", text, re.M).group(1)
    password = re.search(r"^demo Control Center user: admin / (\S+)", text, re.M).group(1)
    store = StoreResource(db_url=f"sqlite:///{tmp_path / 'halo' / 'halo.db'}")
    try:
        assert check_key(store, key).scopes == {"admin"}
        assert users.login(store, "admin", password, "make-run-test")
    finally:
        store.dispose()
