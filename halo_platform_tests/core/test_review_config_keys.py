"""Review of the configuration files operators write by hand: a misspelled or unknown key that
changes what the platform does is refused when the file is read, in one line naming the key's
path, never ignored. `quiet_hours: {sms: {Start: "21:00", End: "08:00"}}` loaded as no quiet
hours at all (NORMAL and LOW SMS went out at night) and a country written `UK` (GB is the code)
was an override no message ever matched. A sink's misspelled setting (`ftps: true` for `tls`)
sent reports and passwords over plain FTP."""

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


@pytest.mark.parametrize(("setting", "error"), [
    ('quiet_hours: {sms: {start: "21:00", end: "08:00", countries: {UK: null}}}\n',
     "quiet_hours.sms.countries: 'UK' is not an ISO 3166-1 alpha-2 country code"),
    ('quiet_hours: {sms: {countries: {EU: {start: "22:00", end: "07:00"}}}}\n',
     "quiet_hours.sms.countries: 'EU' is not an ISO 3166-1 alpha-2 country code"),
])
def test_a_quiet_hours_country_that_is_no_country_code_is_refused(halo_env, tmp_path, monkeypatch, setting, error):  # noqa: ANN001
    """`UK: null` was kept as an override no message matches (a British number's country is GB):
    the night window the operator meant to lift stayed, or the one meant to set was never applied."""
    assert refused_by_the_cli(tmp_path, monkeypatch, PROVIDERS + setting) == [f"error: {error}"]


@pytest.mark.parametrize(("text", "error"), [
    ("providers:\n  uk_sms: {kind: sandbox, channel: sms, countries: [UK]}\nrouting: []\n",
     "provider uk_sms.countries: 'UK' is not an ISO 3166-1 alpha-2 country code"),
    (PROVIDERS.replace("routing: []", "routing:\n  - {channel: sms, country: UK, weights: {sms: 1}}"),
     "routing[0].country: 'UK' is not an ISO 3166-1 alpha-2 country code"),
])
def test_a_provider_or_routing_country_that_is_no_country_code_is_refused(halo_env, tmp_path, monkeypatch, text, error):  # noqa: ANN001
    """The same check as a message's `country`: a provider serving `UK` never served a British
    number, a rule for `UK` never routed one."""
    assert refused_by_the_cli(tmp_path, monkeypatch, text) == [f"error: {error}"]


def test_country_codes_in_any_letter_case_and_the_wildcard_still_load(halo_env, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    text = ("providers:\n  sms: {kind: sandbox, channel: sms, countries: [gb, FR, NO]}\n  any: {kind: sandbox, channel: sms, countries: ['*']}\n"
            "routing:\n  - {channel: sms, country: gb, weights: {sms: 1}}\n  - {channel: sms, country: '*', weights: {any: 1}}\n"
            'quiet_hours: {sms: {start: "21:00", end: "08:00", countries: {gb: null, NO: {start: "22:00", end: "07:00"}}}}\n')
    assert "any" in listed_by_the_cli(tmp_path, monkeypatch, text)


SANDBOX_SETTINGS = ("kind, channel, countries, capabilities, base_url, timeout_seconds, max_concurrency, rate_per_second, "
                    "failure_rate, down, db_url")


@pytest.mark.parametrize(("text", "error"), [
    (PROVIDERS.replace("routing: []", "routing:\n  - {channel: sms, contry: FR, weights: {sms: 1}}"),
     "routing[0]: unknown key 'contry' (expected channel, country, capability, weights)"),
    (PROVIDERS.replace("routing: []", "routing:\n  - {channel: sms, country: FR, capabilty: SECURE, weights: {sms: 1}}"),
     "routing[0]: unknown key 'capabilty' (expected channel, country, capability, weights)"),
    ("providers:\n  sms: {kind: sandbox, channel: sms, countrys: [FR]}\nrouting: []\n",
     f"provider sms: unknown key 'countrys' (expected {SANDBOX_SETTINGS})"),
    ("providers:\n  sms: {kind: sandbox, channel: sms, rate_per_sec: 5}\nrouting: []\n",
     f"provider sms: unknown key 'rate_per_sec' (expected {SANDBOX_SETTINGS})"),
    (f"{PROVIDERS}retry: {{max_retry: 0}}\n", "retry: unknown key 'max_retry' (expected max_retries, backoff_seconds)"),
    (f"{PROVIDERS}autopilot: {{error_rate_treshold: 0.5}}\n",
     "autopilot: unknown key 'error_rate_treshold' (expected window_minutes, min_attempts, error_rate_threshold, ramp_percent, "
     "share_tolerance)"),
    (f'{PROVIDERS}quiet_hour: {{sms: {{start: "21:00", end: "08:00"}}}}\n',
     "unknown key 'quiet_hour' (expected providers, routing, retry, autopilot, capabilities, high_deadline_seconds, lease_seconds, "
     "on_unknown, max_segments, quiet_hours)"),
])
def test_a_misspelled_setting_elsewhere_in_the_providers_file_is_refused_naming_its_path(halo_env, tmp_path, monkeypatch,  # noqa: ANN001
                                                                                         text, error):
    """Each was ignored and its default taken: a rule meant for France (`contry: FR`) routed every
    country's SMS, a provider meant for France (`countrys`) carried every country's, a rate limit
    (`rate_per_sec`) was no limit, `max_retry: 0` retried five times, and a whole section
    (`quiet_hour`) was as if it was not there."""
    assert refused_by_the_cli(tmp_path, monkeypatch, text) == [f"error: {error}"]


def test_the_shipped_providers_file_and_a_real_kinds_settings_still_load(halo_env, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    from halo_platform.core.settings import PROJECT_ROOT

    assert "sandbox_sms_b" in listed_by_the_cli(tmp_path, monkeypatch, (PROJECT_ROOT / "config" / "providers.yaml").read_text())
    twilio = ('providers:\n  tw: {kind: twilio, channel: sms, countries: [FR], base_url: "http://127.0.0.1:9", account_sid: AC1,'
              ' auth_token: "${NO_SUCH_TOKEN}", sender: "+33700000000", status_callback: "https://example.com/cb", rate_per_second: 5}\n'
              "routing: []\n")
    assert "twilio" in listed_by_the_cli(tmp_path, monkeypatch, twilio)


FTP_SETTINGS = ("kind, max_file_bytes, link_store, host, port, username, password, remote_dir, tls, verify_tls, ca_file, passive, "
                "timeout")


@pytest.mark.parametrize(("sink", "error"), [
    ("{kind: ftp, host: 127.0.0.1, username: u, password: p, ftps: true}",
     f"sink 'out': unknown key 'ftps' (expected {FTP_SETTINGS})"),
    ("{kind: email, host: 127.0.0.1, sender: a@example.com, to: [b@example.com], password: p, start_tls: true}",
     "sink 'out': unknown key 'start_tls' (expected kind, max_file_bytes, link_store, host, port, starttls, ssl, username, password,"
     " sender, to, cc, verify_tls, ca_file, timeout)"),
    ("{kind: folder, path: /tmp/out, max_file_byte: 1000, link_store: outbox}",
     "sink 'out': unknown key 'max_file_byte' (expected kind, max_file_bytes, link_store, path, url)"),
])
def test_a_misspelled_sink_setting_is_refused_when_a_request_names_the_sink(halo_env, tmp_path, monkeypatch, sink, error):  # noqa: ANN001
    """`ftps: true` (the setting is `tls`) sent the report and the password over plain FTP,
    `start_tls: true` over plain SMTP, and `max_file_byte` sent a file of any size: each was
    dropped when the sink was built. A request naming the sink is refused as an unknown kind is."""
    path = tmp_path / "sinks.yaml"
    path.write_text(f"sinks:\n  outbox: {{kind: folder, path: {tmp_path / 'o'}}}\n  out: {sink}\n")
    monkeypatch.setenv("HALO_SINKS_FILE", str(path))
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--sink", "out"])
    assert (result.exit_code, result.output.splitlines()) == (2, [f"error: {error}"])


def test_the_shipped_sinks_file_still_loads(halo_env, monkeypatch) -> None:  # noqa: ANN001
    from halo_platform.core.settings import PROJECT_ROOT
    from halo_platform.sinks import SinksResource

    monkeypatch.setenv("HALO_SINKS_FILE", str(PROJECT_ROOT / "config" / "sinks.yaml"))
    sinks = SinksResource()
    sinks.validate_names(sinks.names())
    assert sinks.get("outbox").kind == "folder"
