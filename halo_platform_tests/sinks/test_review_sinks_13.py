"""Sinks, review 13: a folder sink that may not write in its folder fails once, naming it."""

from __future__ import annotations

import os
import subprocess

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.folder import FolderSink


@pytest.fixture
def unwritable_folder(tmp_path):  # noqa: ANN001
    """A folder its user may not write in: read-only by its mode, and immutable for root (whom no
    mode stops)."""
    folder = tmp_path / "outbox"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(folder)], check=True)
    yield folder
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_folder_sink_that_may_not_write_in_its_folder_fails_once_naming_it(unwritable_folder, report_file):  # noqa: ANN001
    """The folder exists but its user may not write in it: the PermissionError of the temporary
    file was taken for a transient error, retried with backoff at each attempt (and the run retried
    for it), though no retry grants the permission. It is a permanent failure, after one attempt,
    naming the folder, as the FTP and SFTP sinks' permission errors are; nothing is written."""
    sink = FolderSink(path=str(unwritable_folder))
    outcome = deliver_with_retries("outbox", sink, Delivery("r", "t", [report_file]), attempts=3, backoff_seconds=(0.01,))
    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome.tries
    assert outcome.detail.startswith(f"permanent: no permission to write in folder {unwritable_folder}: "), outcome.detail
    assert list(unwritable_folder.iterdir()) == []
