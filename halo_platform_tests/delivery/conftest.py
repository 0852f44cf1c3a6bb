"""Delivery fixtures: the provider fakes (real HTTP servers on 127.0.0.1), the store of the
isolated platform, and the providers resource over a providers file written in tmp, secrets
passed as ${ENV} references."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import Outgoing, Provider
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.lab.provider_fakes import FAKES, SECRETS, ProviderFake


@pytest.fixture
def fakes() -> Iterator[dict[str, ProviderFake]]:
    """One started fake per HTTP provider kind."""
    started = {kind: factory().start() for kind, factory in FAKES.items()}
    yield started
    for fake in started.values():
        fake.close()


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
    providers = ProvidersResource()

    def make(kind: str, fake: ProviderFake, name: str | None = None, **extra) -> Provider:  # noqa: ANN003
        raw = provider_settings(kind, fake, monkeypatch, CHANNEL_OF[kind], **extra)
        entry = ProviderEntry(name or f"{kind}_test", kind, raw["channel"], ("*",), ("*",), raw)
        return providers.build(entry)

    yield make
    providers.close()


@pytest.fixture
def halo_store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """The store of the isolated platform."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, halo_store):  # noqa: ANN001, ANN201
    """The isolated platform's SQLite store, then a PostgreSQL database of its own."""
    if request.param == "sqlite":
        return halo_store
    store = StoreResource(db_url=request.getfixturevalue("migrated_pg_url"))
    request.addfinalizer(store.dispose)
    return store


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def every_store(request, halo_store):  # noqa: ANN001, ANN201
    """The isolated platform's SQLite store, then a PostgreSQL and a MariaDB database of its own."""
    if request.param == "sqlite":
        return halo_store
    store = StoreResource(db_url=request.getfixturevalue({"postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}[request.param]))
    request.addfinalizer(store.dispose)
    return store


@pytest.fixture
def providers_file(halo_env, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    """write(providers, routing, **settings) -> the ProvidersResource over that file (its
    configuration checked); HALO_PROVIDERS_FILE points at it for the code location's resources."""
    made: list[ProvidersResource] = []

    def write(providers: dict, routing: list | None = None, **settings) -> ProvidersResource:  # noqa: ANN003
        path = tmp_path / "providers.yaml"
        path.write_text(yaml.safe_dump({"providers": providers, "routing": routing or [], **settings}))
        monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
        resource = ProvidersResource(providers_file=str(path))
        resource.config()
        made.append(resource)
        return resource

    yield write
    for resource in made:
        resource.close()


def twilio_then_vonage(fakes: dict[str, ProviderFake], providers_file) -> ProvidersResource:  # noqa: ANN001
    """providers_file with French SMS to the Twilio fake, drawn first nearly always (weight
    1,000,000), then the Vonage fake (weight 1): where a HIGH message fails over. A function, not
    a fixture: written when the test calls it, after any providers file its other fixtures wrote."""
    return providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["FR"], "base_url": fakes["vonage"].url, **SECRETS["vonage"]},
    }, [{"channel": "sms", "country": "FR", "capability": "*", "weights": {"tw": 1_000_000, "vo": 1}}])


@pytest.fixture(autouse=True)
def _fresh_code_location_resources() -> Iterator[None]:
    """The code location's shared store and providers resources (used by the CLI and the app)
    hold an engine and clients made for one test's environment: drop them after it."""
    yield
    from halo_platform.core.definitions import STORE
    from halo_platform.delivery.definitions import PROVIDERS

    STORE.dispose()
    PROVIDERS.close()


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
