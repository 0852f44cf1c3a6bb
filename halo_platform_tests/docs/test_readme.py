"""The README's commands work as written: every ```bash block of README.md runs, line by
line, in a fresh HALO_HOME with `halo serve` listening where the README says (8080 rewritten
to a free port). Blocks fenced ```sh (make run, make test, hour-long benchmarks) are not run."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from halo_platform_tests.fixtures.halo_serve import halo_serve

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def readme_commands() -> list[str]:
    blocks = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_has_runnable_blocks_covering_every_group_of_the_halo_command() -> None:
    commands = readme_commands()
    for group in ("demo", "tasks", "schedules", "emr", "delivery"):
        assert any(c.startswith(f"halo {group}") for c in commands), group
    assert any(c.startswith("curl") for c in commands)
    # every call but /health needs a key (access.md): the README's curls carry the one it creates
    assert all("Authorization: Bearer $HALO_KEY" in c for c in commands if c.startswith("curl") and "/health" not in c)


def test_every_readme_command_runs_as_written_against_a_fresh_home(tmp_path, dagster_webserver) -> None:  # noqa: ANN001
    """Task requests go to the session's Dagster webserver, as under `make run`."""
    env = dagster_webserver.env({k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))})
    env.update(HALO_HOME=str(tmp_path / "halo"))
    # the README tells the reader to put .venv/bin on PATH; here it is this interpreter's bin
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    try:
        with halo_serve(tmp_path, env=env) as url:
            state = tmp_path / "exported.sh"  # what a line exports (HALO_KEY) reaches the lines after it, as in one terminal
            state.write_text("")
            for command in readme_commands():
                if command.startswith("export PATH="):
                    continue  # done above, for this checkout's interpreter
                line = command.replace("localhost:8080", url.removeprefix("http://"))
                if line.startswith("curl"):
                    line = line.replace("curl ", "curl --fail-with-body ", 1)
                script = f"source {shlex.quote(str(state))}\n{line}\nstatus=$?\nexport -p > {shlex.quote(str(state))}\nexit $status"
                proc = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
                assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
                assert "Traceback" not in proc.stderr, command
    finally:
        dagster_webserver.clear_queue()


@pytest.mark.parametrize("command", ["halo tasks run payment_reconciliation --payload '{\"tolerance\":0.01}' --sink outbox --wait"])
def test_the_readme_report_example_finds_the_demo_data(command, tmp_path) -> None:  # noqa: ANN001
    """The README's report example reads the demo week (not an empty, long-gone period)."""
    assert command in readme_commands()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))}
    env.update(HALO_HOME=str(tmp_path / "halo"), DAGSTER_HOME=str(tmp_path / "dagster_home"))
    subprocess.run([str(BIN / "halo"), "demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    proc = subprocess.run(shlex.split(command.replace("halo", str(BIN / "halo"), 1)), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    output = re.search(r"^output: file://(\S+)$", proc.stdout, re.M)
    assert output, proc.stdout
    assert len(Path(output.group(1)).read_text().splitlines()) > 1, "the report has a header and no rows"
