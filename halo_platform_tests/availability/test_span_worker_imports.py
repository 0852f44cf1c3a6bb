"""What a span worker process loads before it computes anything."""

import subprocess
import sys

from halo_platform.availability import pipeline, span_store


def test_the_module_span_workers_run_from_imports_no_dagster():
    """A span worker unpickles `plan_in_worker` by importing its module: were Dagster among that
    module's imports (through the store resource), every worker would spend about a second
    loading it before reading a row."""
    assert pipeline.plan_in_worker is span_store.plan_in_worker
    code = ("import sys; import halo_platform.availability.span_store; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'dagster'))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=120).stdout
    assert loaded.strip() == "[]"
