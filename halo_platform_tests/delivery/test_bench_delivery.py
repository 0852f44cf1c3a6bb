"""`halo bench delivery` end to end on a small scale: real fakes in their own processes, the API and a
dispatcher process, SQLite only."""

from click.testing import CliRunner

from halo_platform.cli import cli


def test_the_delivery_bench_drains_against_fakes_that_answer_late_and_counts_what_they_accepted():
    result = CliRunner().invoke(cli, ["bench", "delivery", "--messages", "200", "--high", "5", "--pg-admin-url", "none", "--latency-ms", "20"])
    assert result.exit_code == 0, result.output
    assert "fakes in 4 processes answering after 20 ms" in result.output
    assert "32 connections per SMS fake" in result.output  # the raw reference drives a dispatcher's connections
    assert "SQLite, 1 dispatcher: 200 of 200 sent" in result.output and "accepted twice: 0" in result.output
    # the wire measured again just before the drain it is compared with
    lines = result.output.splitlines()
    raw = [i for i, line in enumerate(lines) if "raw capacity of the fakes just before the next run" in line]
    assert len(raw) == 1 and "SQLite, 1 dispatcher:" in lines[raw[0] + 1]


def test_the_delivery_bench_refuses_a_negative_latency_in_one_line():
    result = CliRunner().invoke(cli, ["bench", "delivery", "--latency-ms", "-5"])
    assert result.exit_code == 2 and "Invalid value for '--latency-ms'" in result.output
