"""`halo bench emr` runs end to end on a small burst and accounts for the run's time: every
step it names, Dagster's event records among them, and the rest."""

import re

from click.testing import CliRunner

from halo_platform.lab.bench.availability import bench_emr


def test_the_emr_bench_runs_a_small_burst_through_an_on_disk_instance_and_names_where_the_time_went(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    for name in ("HALO_HOME", "DAGSTER_HOME"):  # the bench points both at its scratch folder; restored after the test
        monkeypatch.setenv(name, str(tmp_path / "before"))
    result = CliRunner().invoke(bench_emr, ["--events", "3000", "--providers", "60", "--naive-sample", "30", "--workdir", str(tmp_path / "scratch")])

    assert result.exit_code == 0, result.output
    out = result.output
    total = float(re.search(r"ours: 15 files, 3,000 events, 0 quarantined, .* in ([0-9.]+)s", out).group(1))
    steps = {name: float(seconds) for name, seconds in re.findall(r"^  (\S[^:]*): ([0-9.]+)s", out, re.M)}
    assert set(steps) == {"parse + upsert (ingest_feeds)", "spans (recompute_spans)", "next slots (refresh_next_slots)",
                          "asset checks on spans", "Dagster's event records (a materialization per partition)",
                          "the rest (Dagster's run and steps, planning, hashing)"}
    assert all(seconds > 0 for seconds in steps.values())
    assert abs(sum(steps.values()) - total) < 0.04  # the steps and the rest add up to the run (7 figures, each rounded to 0.01 s)
    assert (tmp_path / "scratch" / "dagster_home" / "history").is_dir()  # the run went to the scratch folder's instance


def test_a_batch_of_events_stored_one_by_one_is_timed_once(monkeypatch) -> None:  # noqa: ANN001
    """On SQLite, Dagster's batch write calls `store_event` per event: the bench counts the batch's time once."""
    from halo_platform.lab.bench import availability

    class Storage:
        def store_event(self, event: int) -> None:
            pass

        def store_event_batch(self, events: list[int]) -> None:
            for event in events:
                self.store_event(event)

    ticks = iter(range(100))
    monkeypatch.setattr(availability.time, "perf_counter", lambda: next(ticks))  # one tick per reading of the clock
    with availability.timed_steps(Storage) as spent:
        Storage().store_event_batch([1, 2, 3])
        Storage().store_event(4)
    assert spent["Dagster's event records (a materialization per partition)"] == 2  # one interval of one tick each
