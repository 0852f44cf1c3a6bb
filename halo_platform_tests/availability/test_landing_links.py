"""A symbolic link in a landing folder: its target is read only when it lies in the landing zone.
An SFTP drop user can create links; one to `$HALO_HOME/.env` was read as a feed file, and its
text (secrets) landed in the quarantine that `halo emr quarantine` and the Control Center list."""

import os

from halo_platform.availability.service import quarantined
from halo_platform.core.settings import get_settings
from halo_platform_tests.availability.helpers import land, process, spans_on

DAY = "2027-01-04"  # a Monday
HOURS = '{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","12:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n'


def test_a_link_out_of_the_landing_zone_is_not_read(store, caplog):
    secret = get_settings().home / "outside.env"
    secret.write_text("HALO_SMTP_PASSWORD=hunter2\n")
    link = get_settings().landing_dir / "acme" / "x.jsonl"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, link)
    land("acme", "hours.jsonl", HOURS)
    with caplog.at_level("WARNING"):
        summary = process(store, DAY, 1)
    assert summary.files == 1
    assert quarantined(store, "acme") == []
    assert "hunter2" not in caplog.text
    assert "acme/x.jsonl" in caplog.text and "outside the landing zone" in caplog.text
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]


def test_a_link_to_a_file_of_the_landing_zone_is_read(store):
    """A link inside the zone (a file kept once, linked into its feed's folder) is a landed file."""
    kept = get_settings().landing_dir / "shared" / "hours.jsonl"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(HOURS)
    link = get_settings().landing_dir / "acme" / "hours.jsonl"
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(kept, link)
    assert process(store, DAY, 1).files == 1
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
