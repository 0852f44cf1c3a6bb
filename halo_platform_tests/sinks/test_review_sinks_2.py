"""Sinks review 2: the encoding of a message's note file, checked in a real interpreter under LANG=C."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NOTE = """
import sys
from halo_platform.sinks import Delivery, Link, deliver_with_retries
from halo_platform.sinks.folder import FolderSink

link = Link("Größe_März.csv", 12, "https://files.example.com/Größe_März.csv")
outcome = deliver_with_retries("outbox", FolderSink(path=sys.argv[1]), Delivery("Reminder: payments", "Zahlung für März ist fällig", links=[link]), attempts=1)
print(outcome.status, outcome.detail)
"""


def test_a_note_file_is_utf8_whatever_the_locale(tmp_path):
    """A message (or a file sent as a link) is stored as a note `<subject>.txt`, written in the
    locale's encoding: under LANG=C (a container, a systemd service; Python's UTF-8 mode off) a
    note saying `März` failed the delivery as 'unexpected error: UnicodeEncodeError', and under a
    Latin-1 locale the file was Latin-1 while every other text file the platform writes is UTF-8.
    It is UTF-8 now, whatever the locale."""
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    script = tmp_path / "note.py"  # a source file is UTF-8 (a -c argument would be read in the locale's encoding)
    script.write_text(NOTE, encoding="utf-8")
    (tmp_path / "out").mkdir()
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert (run.returncode, run.stdout.strip()) == (0, "DELIVERED"), run.stderr
    assert (tmp_path / "out" / "Reminder_payments.txt").read_bytes().decode("utf-8") == (
        "Zahlung für März ist fällig\n\nGröße_März.csv (12 bytes): https://files.example.com/Größe_März.csv")
