"""`halo bench delivery` end to end on a small scale: real fakes in their own processes, the API and a
dispatcher process per channel, SQLite only."""

import re

from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.lab.bench.delivery import CONCURRENCY


def test_the_delivery_bench_drains_against_fakes_that_answer_late_and_counts_what_they_accepted():
    result = CliRunner().invoke(cli, ["bench", "delivery", "--messages", "200", "--high", "5", "--pg-admin-url", "none", "--latency-ms", "20",
                                      "--dispatchers", "1,2"])
    assert result.exit_code == 0, result.output
    assert "fakes in 4 processes answering after 20 ms" in result.output
    assert f"{CONCURRENCY} connections per SMS fake" in result.output  # the raw reference drives a dispatcher's connections
    # dispatch runs per channel, as the queue sensor launches them: an SMS one and an email one each
    assert "SQLite, 1 dispatcher per channel: 200 of 200 sent" in result.output and "summed over 2 dispatchers" in result.output
    assert "SQLite, 2 dispatchers per channel: 200 of 200 sent" in result.output and "summed over 4 dispatchers" in result.output
    assert result.output.count("accepted twice: 0") == 2
    # the floor the store puts under a HIGH send, measured on the run's store
    assert re.search(r"of which 2 durable commits, p50 \d+\.\d ms each alone", result.output), result.output
    # the wire measured again just before each drain it is compared with
    lines = result.output.splitlines()
    raw = [i for i, line in enumerate(lines) if "raw capacity of the fakes just before the next run" in line]
    assert [lines[i + 1].split(":")[0].strip() for i in raw] == ["SQLite, 1 dispatcher per channel", "SQLite, 2 dispatchers per channel"]


def test_the_delivery_bench_refuses_a_negative_latency_in_one_line():
    result = CliRunner().invoke(cli, ["bench", "delivery", "--latency-ms", "-5"])
    assert result.exit_code == 2 and "Invalid value for '--latency-ms'" in result.output


def test_bench_delivery_refuses_counts_it_cannot_run_with_one_line():
    """`--messages -5` was a ValueError's traceback, exit 1: one error line naming the option, exit 2."""
    for args, said in ((["--messages", "-5"], "--messages must be at least 100"), (["--high", "-1"], "--high must be 0 or more")):
        result = CliRunner().invoke(cli, ["bench", "delivery", *args, "--pg-admin-url", "none"])
        assert (result.exit_code, result.output.strip()) == (2, f"error: {said}"), result.output
