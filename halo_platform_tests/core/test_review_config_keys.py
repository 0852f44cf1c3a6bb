"""Review of the configuration files operators write by hand: a misspelled or unknown key that
changes what the platform does is refused when the file is read, in one line naming the key's
path, never ignored. `quiet_hours: {sms: {Start: "21:00", End: "08:00"}}` loaded as no quiet
hours at all (NORMAL and LOW SMS went out at night) and a country written `UK` (GB is the code)
was an override no message ever matched."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli

PROVIDERS = "providers:\n  sms: {kind: sandbox, channel: sms}\nrouting: []\n"


def refused_by_the_cli(tmp_path, monkeypatch, text: str) -> list[str]:  # noqa: ANN001
    """`halo delivery providers` over a providers file holding `text`: its output lines, once it
    failed as a user error (exit 2)."""
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    result = CliRunner().invoke(cli, ["delivery", "providers"])
    assert result.exit_code == 2, result.output
    return [line.replace(f"{path}: ", "") for line in result.output.splitlines()]


def listed_by_the_cli(tmp_path, monkeypatch, text: str) -> str:  # noqa: ANN001
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    result = CliRunner().invoke(cli, ["delivery", "providers"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("quiet_hours", "error"), [
    ('{sms: {Start: "21:00", End: "08:00"}}', "quiet_hours.sms: unknown key 'Start' (expected start, end, countries)"),
    ('{sms: {start: "21:00", end: "08:00", country: {DE: null}}}',
     "quiet_hours.sms: unknown key 'country' (expected start, end, countries)"),
    ('{sms: {countries: {DE: {start: "22:00", end: "07:00", until: "06:00"}}}}',
     "quiet_hours.sms.countries.DE: unknown key 'until' (expected start, end)"),
    ("{sms: {}}", "quiet_hours.sms: needs start and end, or countries, as HH:MM local times"),
    ("{sms: {countries: {}}}", "quiet_hours.sms: needs start and end, or countries, as HH:MM local times"),
    ('{sms: {start: "21:00"}}', "quiet_hours.sms needs start and end as HH:MM local times"),
    ("{sms: {countries: {DE: {}}}}", "quiet_hours.sms.countries.DE needs start and end as HH:MM local times"),
])
def test_a_misspelled_or_empty_quiet_hours_setting_is_refused_naming_its_path(halo_env, tmp_path, monkeypatch,  # noqa: ANN001
                                                                              quiet_hours, error):
    """Each of these loaded as no quiet hours (or no override), and NORMAL/LOW SMS went out at
    night without a word."""
    assert refused_by_the_cli(tmp_path, monkeypatch, f"{PROVIDERS}quiet_hours: {quiet_hours}\n") == [f"error: {error}"]


@pytest.mark.parametrize("quiet_hours", [
    '{sms: {start: "21:00", end: "08:00", countries: {DE: null}}}',
    '{sms: {countries: {DE: {start: "22:00", end: "07:00"}}}}',
    "{}",
])
def test_quiet_hours_written_as_the_spec_says_still_load(halo_env, tmp_path, monkeypatch, quiet_hours):  # noqa: ANN001
    assert "sandbox" in listed_by_the_cli(tmp_path, monkeypatch, f"{PROVIDERS}quiet_hours: {quiet_hours}\n")
