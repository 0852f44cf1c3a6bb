"""Delivery fixtures: the provider fakes (real HTTP servers on 127.0.0.1) and a providers
file written in tmp (HALO_PROVIDERS_FILE), secrets passed as ${ENV} references."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from halo_platform.delivery.config import DeliveryConfig, ProviderEntry, load_config
from halo_platform.delivery.providers import Outgoing, Provider, build_provider, close_providers
from halo_platform.lab.provider_fakes import FAKES, SECRETS, ProviderFake


@pytest.fixture
def fakes() -> Iterator[dict[str, ProviderFake]]:
    """One started fake per HTTP provider kind."""
    started = {kind: factory().start() for kind, factory in FAKES.items()}
    yield started
    close_providers()
    for fake in started.values():
        fake.stop()


def secret_refs(kind: str, monkeypatch) -> dict[str, str]:  # noqa: ANN001
    """The kind's credentials as ${ENV} references, with the variables set."""
    refs = {}
    for key, value in SECRETS.get(kind, {}).items():
        if key in ("account_sid", "project_id", "app_id"):
            refs[key] = value
            continue
        env = f"TEST_{kind}_{key}".upper()
        monkeypatch.setenv(env, value)
        refs[key] = "${" + env + "}"
    return refs


def provider_settings(kind: str, fake: ProviderFake, monkeypatch, channel: str, **extra) -> dict:  # noqa: ANN001, ANN003
    sender = {"sms": "+33700000000", "email": "noreply@example.com"}.get(channel)
    settings = {"kind": kind, "channel": channel, "countries": ["*"], "capabilities": ["*"], "base_url": getattr(fake, "url", ""),
                **secret_refs(kind, monkeypatch), "timeout_seconds": 2.0, **extra}
    if sender and kind != "vonage":
        settings.setdefault("sender", sender)
    return settings


CHANNEL_OF = {"twilio": "sms", "vonage": "sms", "sendgrid": "email", "mailjet": "email", "smtp": "email", "fcm": "push", "onesignal": "push", "sandbox": "sms"}


@pytest.fixture
def make_provider(monkeypatch):  # noqa: ANN001, ANN201
    """make_provider(kind, fake, **extra) -> a Provider pointed at the fake."""

    def make(kind: str, fake: ProviderFake, name: str | None = None, **extra) -> Provider:  # noqa: ANN003
        raw = provider_settings(kind, fake, monkeypatch, CHANNEL_OF[kind], **extra)
        entry = ProviderEntry(name or f"{kind}_test", kind, raw["channel"], ("*",), ("*",), raw)
        return build_provider(entry)

    yield make
    close_providers()


@pytest.fixture
def providers_file(halo_env, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """write(providers, routing, **settings) -> DeliveryConfig; HALO_PROVIDERS_FILE points at it."""

    def write(providers: dict, routing: list | None = None, **settings) -> DeliveryConfig:  # noqa: ANN003
        path = tmp_path / "providers.yaml"
        path.write_text(yaml.safe_dump({"providers": providers, "routing": routing or [], **settings}))
        monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
        return load_config(path)

    yield write
    close_providers()


def outgoing(channel: str, recipient: str | None = None, **fields) -> Outgoing:  # noqa: ANN003
    mid = str(uuid.uuid4())
    defaults = {
        "sms": {"recipient": "+33612345678", "body": f"code {mid}"},
        "email": {"recipient": "ada@example.com", "body": f"hello {mid}", "subject": "Hello"},
        "push": {"recipient": "device_token_123456", "body": f"ping {mid}", "title": "Ping"},
    }[channel]
    if recipient:
        defaults["recipient"] = recipient
    return Outgoing(id=mid, channel=channel, **{**defaults, **fields})
