"""Secrets configured as ${ENV} references never come back in what a failure reports: a provider
answering an error with the request it got (credentials and all) echoed in its body."""

from __future__ import annotations

import uuid

import pytest

from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import Outgoing
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.lab.provider_fakes import FAKES, SECRETS

MARKER = "SECRET-MARKER-123"
CHANNEL_OF = {"twilio": "sms", "vonage": "sms", "sendgrid": "email", "mailjet": "email", "fcm": "push", "onesignal": "push"}
RECIPIENT = {"sms": "+33612345678", "email": "ada@example.com", "push": "device_token_123456"}
SENDER = {"sms": "+33700000000", "email": "noreply@example.com"}
ECHOES = [
    {"error": "internal", "request": {"api_key": MARKER, "api_secret": MARKER, "auth_token": MARKER, "secret_key": MARKER}},
    f"internal error, request was: api_secret={MARKER}&to=33612345678",
    f"internal error, headers were: Authorization: Bearer {MARKER}",
    f"internal error, request was {{'password': '{MARKER} with spaces'}}",
]


@pytest.fixture
def providers():  # noqa: ANN201
    built = ProvidersResource()
    yield built
    built.close()


@pytest.mark.parametrize("kind", sorted(CHANNEL_OF))
def test_a_provider_error_echoing_the_request_never_shows_its_secrets(kind, providers, monkeypatch):
    channel = CHANNEL_OF[kind]
    fake = FAKES[kind]().start()
    try:
        raw = {"kind": kind, "channel": channel, "countries": ["*"], "capabilities": ["*"], "base_url": fake.url, "timeout_seconds": 2.0}
        for key, value in SECRETS[kind].items():
            if key in ("account_sid", "project_id", "app_id"):
                raw[key] = value
                continue
            monkeypatch.setenv(f"REVIEW_{kind}_{key}".upper(), MARKER)
            raw[key] = "${" + f"REVIEW_{kind}_{key}".upper() + "}"
        if channel in SENDER and kind != "vonage":
            raw["sender"] = SENDER[channel]
        provider = providers.build(ProviderEntry(f"{kind}_echo", kind, channel, ("*",), ("*",), raw))
        for echo in ECHOES:
            content_type = "application/json" if isinstance(echo, dict) else "text/plain"
            fake.set_switches(failure_rate=1.0, failure_response=(500, {"content-type": content_type}, echo))
            message = Outgoing(id=str(uuid.uuid4()), channel=channel, recipient=RECIPIENT[channel], body="hi", subject="Hi", title="Hi")
            detail = provider.send(message).detail or ""
            assert MARKER not in detail, (echo, detail)
    finally:
        fake.close()


# a URL with no `@host`: SQLAlchemy reads `user:password` as `host:port`, and its error repeated the port
NO_HOST = f"postgresql+psycopg://postgres:{MARKER}/halo"


@pytest.mark.parametrize("command", [["tasks", "log"], ["delivery", "status", "m1"], ["keys", "list"]])
def test_a_store_url_whose_password_reads_as_its_port_is_one_line_that_never_shows_it(command, halo_env, monkeypatch):
    from click.testing import CliRunner

    from halo_platform.cli import cli

    monkeypatch.setenv("HALO_DB_URL", NO_HOST)
    result = CliRunner().invoke(cli, command)
    assert result.exit_code != 0
    assert MARKER not in result.output + str(result.exception)
    assert "HALO_DB_URL" in result.output
    assert "Traceback" not in result.output


def test_a_warehouse_url_whose_password_reads_as_its_port_fails_clearly_without_it(tmp_path, monkeypatch):
    from halo_platform.core.errors import HaloError
    from halo_platform.core.warehouses import WarehousesResource

    monkeypatch.setenv("REVIEW_WAREHOUSE_PASSWORD", MARKER)
    config = tmp_path / "warehouses.yaml"
    config.write_text('warehouses:\n  sales: {url: "postgresql://reader:${REVIEW_WAREHOUSE_PASSWORD}/sales"}\n')
    with pytest.raises(HaloError) as raised:
        WarehousesResource(warehouses_file=str(config)).url("sales")
    assert MARKER not in str(raised.value)
    assert "sales" in str(raised.value)


@pytest.mark.parametrize("line", ["password: at least 12 characters", "error: token: expected a device token",
                                  "signature: invalid", "auth_token: required"])
def test_the_platforms_own_errors_about_a_secret_field_are_not_masked(line):
    """A field's error (`password: at least 12 characters`, which `halo users create` prints through
    the masks) names no secret: masking its first word after the colon made it `password: *** least`."""
    from halo_platform.core.redact import mask_text

    assert mask_text(line) == line
