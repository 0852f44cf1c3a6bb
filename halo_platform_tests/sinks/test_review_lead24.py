"""A local path in a sink's settings (a folder sink's folder, a CA, key or known_hosts file) was read
from the working folder of whichever process used it: `path: outbox` put a CLI run's report under the
shell's folder and the daemon's under its own, and a `~` was a folder named `~`. A relative path is
now refused as the sink's settings, naming the setting; `~` is the user's home."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource


def _sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sinks: dict) -> SinksResource:
    (tmp_path / "sinks.yaml").write_text(yaml.safe_dump({"sinks": sinks}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(tmp_path / "sinks.yaml"))
    return SinksResource()


@pytest.mark.parametrize(("settings", "setting"), [
    ({"kind": "folder", "path": "outbox"}, "path"),
    ({"kind": "folder", "path": "./reports/out"}, "path"),
    ({"kind": "email", "host": "127.0.0.1", "sender": "r@example.com", "to": ["a@example.com"], "ca_file": "certs/ca.pem"}, "ca_file"),
    ({"kind": "sftp", "host": "127.0.0.1", "username": "u", "private_key_path": "keys/id_ed25519"}, "private_key_path"),
    ({"kind": "sftp", "host": "127.0.0.1", "username": "u", "password": "p", "known_hosts_path": "known_hosts"}, "known_hosts_path"),
    ({"kind": "ftp", "host": "127.0.0.1", "username": "u", "password": "p", "ca_file": "ca.pem"}, "ca_file"),
])
def test_a_relative_local_path_is_refused_naming_the_setting_and_nothing_is_written(halo_env, tmp_path, monkeypatch, report_file,
                                                                                  settings, setting) -> None:  # noqa: ANN001
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    home = Path(halo_env["HALO_HOME"])
    sinks = _sinks(tmp_path, monkeypatch, {"rel": settings, "outbox": {"kind": "folder", "path": str(home / "outbox")}})
    rel, outbox = deliver_all(sinks, ["rel", "outbox"], Delivery("r", "t", [report_file]))
    assert (rel.status, outbox.status) == ("FAILED", "DELIVERED")
    assert setting in rel.detail and "absolute" in rel.detail, rel.detail
    assert list(work.iterdir()) == []  # nothing made in the working folder


def test_a_folder_under_the_users_home_is_written_there(halo_env, tmp_path, monkeypatch, report_file) -> None:  # noqa: ANN001
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    sinks = _sinks(tmp_path, monkeypatch, {"mine": {"kind": "folder", "path": "~/reports"}})
    (outcome,) = deliver_all(sinks, ["mine"], Delivery("r", "t", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert (tmp_path / "home" / "reports" / report_file.name).exists() and not (tmp_path / "~").exists()
    assert os.path.expanduser("~") == str(tmp_path / "home")


def test_a_relative_halo_home_gives_the_default_folder_sinks_an_absolute_folder(halo_env, tmp_path, monkeypatch, report_file) -> None:  # noqa: ANN001
    """`${HALO_HOME}` is the home folder the settings resolve (absolute), not the variable as set:
    `HALO_HOME=.halo` made the default `${HALO_HOME}/outbox` relative, which is refused."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HALO_HOME", ".halo")
    sinks = _sinks(tmp_path, monkeypatch, {"outbox": {"kind": "folder", "path": "${HALO_HOME}/outbox"}})
    (outcome,) = deliver_all(sinks, ["outbox"], Delivery("r", "t", [report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert (tmp_path / ".halo" / "outbox" / report_file.name).exists()
