"""The Control Center as a person meets it: `halo demo` seeds a fresh HALO_HOME (printing the
demo admin's password), `halo users create` adds a viewer and an operator, `halo serve` runs the
service; tests drive it in Debian's chromium (the `page` fixture, network cut off) and time
every page they open (`open_page`), writing the timings to $HALO_SCREENSHOTS/page-timings.json."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from halo_platform_tests.fixtures.halo_serve import HALO, ROOT, halo_serve

PASSWORDS = {"viewer": "viewer password 1", "operator": "operator password 1"}
TIMINGS = Path(os.environ.get("HALO_SCREENSHOTS", "/tmp/halo-screenshots")) / "page-timings.json"
PAGE_BUDGET_MS = 300  # every page renders in under 300 ms with the demo data


@dataclass
class ControlCenter:
    url: str
    env: dict[str, str]
    home: Path
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)  # role -> (name, password)
    demo_monday: str = ""  # the Monday of the week `halo demo` seeded payments for

    def halo(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        """`halo ARGS` in the Control Center's environment (its store, its DAGSTER_HOME)."""
        return subprocess.run([HALO, *args], env=self.env, input=stdin, capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="session")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, tuple[str, str]]]:
    """A HALO_HOME as `halo demo` and `halo users create` (a viewer, an operator) leave it, made
    once per test process: each UI module's Control Center runs on a copy of it (its paths are
    relative to HALO_HOME), so the modules cannot see each other's changes. Returns the home,
    `halo demo`'s output and the logins."""
    home = tmp_path_factory.mktemp("seeded") / "halo"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))} | {"HALO_HOME": str(home)}
    run = functools.partial(subprocess.run, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    seeded = run([HALO, "demo"])
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    logins = {"admin": ("admin", re.search(r"^demo Control Center user: admin / (\S+)", seeded.stdout, re.M).group(1))}
    for role, password in PASSWORDS.items():
        made = run([HALO, "users", "create", role, "--role", role], input=password + "\n")
        assert made.returncode == 0, made.stderr
        logins[role] = (role, password)
    return home, seeded.stdout, logins


@pytest.fixture(scope="module")
def control_center(tmp_path_factory: pytest.TempPathFactory, seeded_home, dagster_webserver) -> Iterator[ControlCenter]:  # noqa: ANN001
    """Its requests are submitted to the session's Dagster webserver, as under `halo up`."""
    root = tmp_path_factory.mktemp("control-center")
    template, demo_output, logins = seeded_home
    shutil.copytree(template, root / "halo")
    env = dagster_webserver.env({k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))})
    env.update(HALO_HOME=str(root / "halo"))
    with halo_serve(root, env=env) as url:
        center = ControlCenter(url, env, root, dict(logins))
        center.demo_monday = re.search(r"^reports: payments warehouse: .*\(week of (\S+)\)$", demo_output, re.M).group(1)
        yield center


def sign_in(page: Page, center: ControlCenter, role: str) -> None:
    """Sign in through the form as the user of `role` (viewer, operator, admin)."""
    name, password = center.logins[role]
    page.context.clear_cookies()
    page.goto(f"{center.url}/ui/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"{name} ({role})")).to_be_visible()


def open_page(page: Page, url: str) -> float:
    """Open `url` and return the server's time to the last byte of the HTML (ms), from the
    browser's Navigation Timing; recorded in $HALO_SCREENSHOTS/page-timings.json."""
    page.goto(url)
    ms = page.evaluate("() => { const n = performance.getEntriesByType('navigation')[0]; return n.responseEnd - n.requestStart; }")
    record_timing("/" + url.split("://", 1)[-1].split("/", 1)[-1], ms)
    return ms


def record_timing(path: str, ms: float, timings: Path | str = TIMINGS) -> None:
    """Add a load of `path` to the timings file, which every test worker writes: one worker at a
    time (a lock beside it), and each write replaces the file whole, so a reader never sees half of it."""
    timings = Path(timings)
    timings.parent.mkdir(parents=True, exist_ok=True)
    with timings.with_suffix(".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = json.loads(timings.read_text()) if timings.exists() else {}
        recorded.setdefault(path, []).append(round(ms, 1))
        written = timings.with_suffix(f".{os.getpid()}.part")
        written.write_text(json.dumps(recorded, indent=1, sort_keys=True))
        written.replace(timings)


def open_fast(page: Page, url: str) -> float:
    """Open `url` and assert it was served within PAGE_BUDGET_MS. On the shared 2-core machine a
    single load can stall behind the other tests' processes (CI saw 301 and 378 ms for pages whose
    median is 20-60 ms), so a page over budget is opened up to twice more and judged on its best
    load: a page whose own cost is over budget is over it every time."""
    times = [open_page(page, url)]
    while times[-1] >= PAGE_BUDGET_MS and len(times) < 3:
        times.append(open_page(page, url))
    assert min(times) < PAGE_BUDGET_MS, f"{url} took {' / '.join(f'{ms:.0f}' for ms in times)} ms"
    return min(times)
