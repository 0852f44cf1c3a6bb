"""Review rev24d: a caller's value that delivery refuses is repeated as every other refusal repeats
it (`core.text.echo`: quoted, control characters written out, at most 100 characters then …), not
whole. An unknown provider in a callback or inbound-message URL, a field a provider's request names
twice, and the provider or weight of `halo delivery switch` / `weights set` were repeated whole:
a 10,000-character name made a 404 of 500 characters (the HTTP cap cut it, and with it the kinds
that take inbound messages) and a CLI line of 10,000."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.core.text import ECHO_LIMIT
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS

LONG = "x" * 10_000
#: the most a refusal repeating one echoed value may be: the value's echo and a sentence around it
MOST = ECHO_LIMIT + 200


@pytest.fixture
def providers(fakes, providers_file):  # noqa: ANN001, ANN201
    return providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret"},
    }, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 50, "vo": 50}}])


@pytest.fixture
def client(providers, halo_store):  # noqa: ANN001, ANN201
    return TestClient(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


@pytest.mark.parametrize(("path", "said"), [("/v1/callbacks/", "unknown provider 'xxx"), ("/v1/inbound/", "(twilio, vonage)")])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_unknown_provider_in_a_provider_url_is_repeated_cut(client, path, said, method):  # noqa: ANN001
    answer = client.request(method, path + LONG, data={"a": "b"} if method == "POST" else None)
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert len(error) <= MOST, len(error)
    assert said in error and "x" * ECHO_LIMIT + "…'" in error


def test_an_unknown_provider_with_a_control_character_is_written_out(client):  # noqa: ANN001
    answer = client.post("/v1/callbacks/a%1b%5b2Jb", data={"a": "b"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "unknown provider 'a\\x1b[2Jb'"


@pytest.mark.parametrize("body", [f"{LONG}=1&{LONG}=2", f'{{"{LONG}": "1", "{LONG}": "2"}}'], ids=["form", "json"])
def test_a_field_a_provider_names_twice_is_repeated_cut(client, body):  # noqa: ANN001
    kind = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    answer = client.post("/v1/callbacks/vo", content=body, headers={"Content-Type": kind})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert len(error) <= MOST, len(error)
    assert error.endswith("…' given twice")


@pytest.mark.parametrize(("args", "said"), [
    (["switch", LONG, "off", "--reason", "r"], "unknown provider 'xxx"),
    (["weights", "set", "sms/*/*", LONG, "--reason", "r"], "expected provider=weight, got 'xxx"),
    (["weights", "set", "sms/*/*", f"{LONG}=1", f"{LONG}=2", "--reason", "r"], "given more than once"),
    (["weights", "set", "sms/*/*", f"tw={LONG}", "--reason", "r"], "weight of tw must be"),
], ids=["switch", "no =", "twice", "weight"])
def test_the_cli_repeats_a_long_provider_or_weight_cut_on_one_line(providers, halo_store, args, said):  # noqa: ANN001
    refused = CliRunner().invoke(cli, ["delivery", *args])
    assert refused.exit_code != 0
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1, refused.output[:300]
    assert len(lines[0]) <= MOST, len(lines[0])
    assert said in lines[0] and "…'" in lines[0]


@pytest.mark.parametrize(("channel", "country", "capability", "said"), [
    ("sms", LONG, "*", "country 'xxx"),
    (LONG, "FR", "*", "unknown channel 'xxx"),
    ("sms", "FR", "X" * 10_000, "capability 'XXX"),
], ids=["country", "channel", "capability"])
def test_a_routing_rule_added_with_a_long_value_is_refused_repeating_it_cut(providers, halo_store, channel, country, capability, said):  # noqa: ANN001
    """`add_rule` (the Control Center's new-rule form) said the value whole: 10,000 characters beside a field."""
    from halo_platform.core.errors import HaloError
    from halo_platform.delivery.state import add_rule

    with pytest.raises(HaloError) as refused:
        add_rule(providers.config(), channel, country, capability, {"tw": 1}, "ana", halo_store, "r")
    error = str(refused.value)
    assert len(error) <= MOST, len(error)
    assert said in error and "…'" in error


def test_a_long_timezone_is_repeated_cut_with_an_ellipsis(providers):  # noqa: ANN001
    """It was cut to 64 characters without saying so, and a list was said as a quoted string ("['a']")."""
    from halo_platform.core.errors import HaloError
    from halo_platform.delivery.validation import validate

    for zone, said in ((LONG, "timezone: '" + "x" * ECHO_LIMIT + "…' is not"), (["Europe/Paris"], "timezone: ['Europe/Paris'] is not")):
        with pytest.raises(HaloError) as refused:
            validate("sms", {"to": "+33612345678", "body": "b", "timezone": zone}, providers.config())
        assert str(refused.value).startswith(said), str(refused.value)
