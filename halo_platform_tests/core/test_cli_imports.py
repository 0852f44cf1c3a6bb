"""`halo` loads Dagster only for the commands that use it: every command starts without
Dagster's 0.6-1 s import, and so does each worker process that Python's forkserver starts
under `halo` (it re-imports the command's module; the span workers of `halo emr process`)."""

import subprocess
import sys


def test_the_halo_command_module_imports_no_dagster() -> None:
    loaded = subprocess.run([sys.executable, "-c", "import sys, halo_platform.cli; print(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster'))"],
                            capture_output=True, text=True, timeout=120, check=True).stdout.strip()
    assert loaded == "[]"
