"""`halo bench reports` runs end to end on a small scale: data generated server-side in
PostgreSQL and MariaDB, ours and the pandas baseline each in a subprocess, same issue counts."""

from __future__ import annotations

import re

from click.testing import CliRunner

from halo_platform.cli import cli


def test_the_benchmark_generates_runs_both_sides_and_they_agree(pg_url, mysql_url):
    result = CliRunner().invoke(cli, ["bench", "reports", "--orders", "5000", "--pg-url", pg_url, "--mysql-url", mysql_url])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("generated 5,000 orders")
    ours_rows = re.search(r"^ours .*memory_limit 64MB.* ([\d,]+) issue rows \(load average [\d. ]+\)$", result.output,
                          re.M).group(1)
    base_rows = re.search(r"^pandas .* ([\d,]+) issue rows \(load average [\d. ]+\)$", result.output, re.M).group(1)
    assert ours_rows == base_rows and int(ours_rows.replace(",", "")) > 0
    assert re.search(r"^ours: the code location's own footprint .* \d+ MB of that peak", result.output, re.M)
    assert re.search(r"^speed-up: [\d.]+x; memory: [\d.]+ of the baseline's peak RSS; counts agree: True$", result.output, re.M)
