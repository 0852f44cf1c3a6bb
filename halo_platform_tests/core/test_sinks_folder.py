"""The folder sink and the retry wrapper shared by every sink kind."""

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.sinks import Delivery, SinksResource, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError, Sink, TransientSinkError, safe_name
from halo_platform.sinks.folder import FolderSink


@pytest.mark.parametrize("raw,safe", [
    ("report.csv", "report.csv"), ("../../etc/passwd", "passwd"), ("/abs/x.csv", "x.csv"),
    (".hidden", "hidden"), ("a b;c$.csv", "a_b_c_.csv"), ("..", "unnamed"), ("", "unnamed"),
])
def test_target_names_are_sanitized_so_nothing_escapes_the_folder(raw, safe):
    assert safe_name(raw) == safe


def test_folder_sink_copies_files_atomically_and_leaves_no_temp_file(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text("a,b\n1,2\n")
    sink = FolderSink(path=str(tmp_path / "out"))
    uris = sink.deliver(Delivery(subject="s", files=[src]))
    assert uris == [(tmp_path / "out" / "r.csv").as_uri()]
    assert (tmp_path / "out" / "r.csv").read_text() == "a,b\n1,2\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["r.csv"]


def test_folder_sink_writes_the_text_when_there_is_no_file(tmp_path):
    FolderSink(path=str(tmp_path)).deliver(Delivery(subject="run failed: x/y", text="details"))
    assert (tmp_path / "run_failed_x_y.txt").read_text() == "details"


class Flaky(Sink):
    failures: int = 0
    permanent: bool = False

    def deliver(self, delivery):
        if self.permanent:
            raise PermanentSinkError("bad credentials")
        calls = getattr(self, "_calls", 0) + 1
        object.__setattr__(self, "_calls", calls)
        if calls <= self.failures:
            raise TransientSinkError(f"connection dropped #{calls}")
        return ["x://ok"]


def test_transient_failures_are_retried_with_backoff_until_success():
    slept = []
    outcome = deliver_with_retries("f", Flaky(failures=2), Delivery("s"), attempts=3, backoff_seconds=(1, 4), sleep=slept.append)
    assert (outcome.status, outcome.attempts, outcome.targets, slept) == ("DELIVERED", 3, ["x://ok"], [1, 4])


def test_retries_are_bounded_and_the_outcome_records_every_attempt():
    outcome = deliver_with_retries("f", Flaky(failures=9), Delivery("s"), attempts=3, sleep=lambda s: None)
    assert (outcome.status, outcome.attempts) == ("FAILED", 3)
    assert "connection dropped #3" in outcome.detail


def test_permanent_failures_are_not_retried():
    outcome = deliver_with_retries("f", Flaky(permanent=True), Delivery("s"), attempts=3, sleep=lambda s: None)
    assert (outcome.status, outcome.attempts, outcome.detail) == ("FAILED", 1, "permanent: bad credentials")


def test_named_sinks_come_from_the_yaml_with_env_references_resolved_at_use(tmp_path, monkeypatch):
    path = tmp_path / "sinks.yaml"
    path.write_text("sinks:\n  out: {kind: folder, path: '${OUT_DIR}/x'}\n  bad: {kind: carrier_pigeon}\n  half: {kind: folder}\n")
    monkeypatch.setenv("OUT_DIR", str(tmp_path))
    sinks = SinksResource(sinks_file=str(path))
    assert sinks.names() == ["bad", "half", "out"]
    assert sinks.get("out").path == f"{tmp_path}/x"
    with pytest.raises(HaloError, match="unknown kind 'carrier_pigeon'"):
        sinks.get("bad")
    with pytest.raises(HaloError, match="invalid settings: path"):
        sinks.get("half")
    with pytest.raises(HaloError, match="unknown sink"):
        sinks.validate_names(["out", "nowhere"])


def test_the_resource_keeps_its_built_sinks_until_their_settings_change(tmp_path):
    path = tmp_path / "sinks.yaml"
    path.write_text(f"sinks:\n  out: {{kind: folder, path: '{tmp_path / 'a'}'}}\n")
    sinks = SinksResource(sinks_file=str(path), attempts=1, backoff=[0.0])
    first = sinks.get("out")
    assert sinks.get("out") is first
    outcome = sinks.deliver("out", Delivery("s", "hello"))
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 1)
    path.write_text(f"sinks:\n  out: {{kind: folder, path: '{tmp_path / 'b'}'}}\n")
    assert sinks.get("out") is not first and sinks.get("out").path == str(tmp_path / "b")


@pytest.mark.parametrize("raw", ["r" * 300 + ".csv", "../" + "é" * 250 + ".xlsx", "x" * 199 + ".parquet"])
def test_a_long_target_name_is_cut_before_its_extension_never_through_it(raw):
    """A name over the 200-character cap keeps its extension (the recipient opens `.csv` as CSV):
    the stem is what is cut. Before, the cut took the extension off (`rrr...r`, no `.csv`)."""
    cleaned = safe_name(raw)
    suffix = raw.rsplit(".", 1)[1]
    assert len(cleaned) <= 200 and cleaned.endswith("." + suffix) and "/" not in cleaned
