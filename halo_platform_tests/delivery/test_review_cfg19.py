"""Provider settings and provider requests (review cfg19).

Pinned here: a provider setting the kind refuses (a Vonage `signature_method: sha265`, an SMTP
`port: abc`) is refused when the providers file is read, in one line naming the entry, the setting
and what it takes; the sha265 loaded, sending worked, and every signed receipt and inbound STOP was
then a 400 `unreadable callback body (ValueError)`: the STOPs were lost without a word."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.delivery.resources import ProvidersResource

VONAGE = ('  vo: {kind: vonage, channel: sms, countries: ["*"], base_url: "http://127.0.0.1:9", api_key: k, api_secret: s,'
          ' signature_secret: sigsecret, %s}\n')
METHODS = "Input should be 'md5hash', 'md5', 'sha1', 'sha256' or 'sha512'"


@pytest.mark.parametrize(("entry", "error"), [
    (VONAGE % "signature_method: sha265", f"provider vo.signature_method: {METHODS}"),
    (VONAGE % "signature_method: SHA256", f"provider vo.signature_method: {METHODS}"),
    ("  em: {kind: smtp, channel: email, port: abc}\n", "provider em.port: Input should be a valid integer, unable to parse string as an integer"),
    ("  em: {kind: smtp, channel: email, starttls: maybe}\n", "provider em.starttls: Input should be a valid boolean, unable to interpret input"),
    ("  sb: {kind: sandbox, channel: sms, rate_per_second: 0}\n", "provider sb.rate_per_second: Input should be greater than 0"),
])
def test_a_provider_setting_its_kind_refuses_is_refused_when_the_providers_file_is_read(halo_env, tmp_path, monkeypatch, entry, error):
    """`halo delivery providers` listed the entry as active, sends went out, and the setting failed
    only later: Vonage's receipts and STOPs all 400 (unreadable body), an SMTP relay at each send.
    The CLI (and every reader of the file: the API, the Control Center, the Dagster ops) refuses it
    in one line naming the entry, the setting and the values it takes (never the value given)."""
    path = tmp_path / "providers.yaml"
    path.write_text(f"providers:\n{entry}routing: []\n")
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    result = CliRunner().invoke(cli, ["delivery", "providers"])
    assert result.exit_code == 2 and result.output == f"error: {path}: {error}\n", result.output
    with pytest.raises(HaloError, match=f"^{path}: provider"):
        ProvidersResource(providers_file=str(path)).config()


def test_a_setting_given_as_an_environment_variable_is_checked_when_the_client_is_built(halo_env, tmp_path, monkeypatch):
    """A `${ENV}` setting is resolved only when the client is built (it may be unset where the file
    is read, as a secret is): the file loads, and the built client refuses the value it resolves to."""
    path = tmp_path / "providers.yaml"
    entry = VONAGE % 'signature_method: "${VONAGE_SIG_METHOD}"'
    path.write_text(f"providers:\n{entry}routing: []\n")
    providers = ProvidersResource(providers_file=str(path))
    assert list(providers.config().providers) == ["vo"]
    monkeypatch.setenv("VONAGE_SIG_METHOD", "sha265")
    with pytest.raises(HaloError, match="signature_method: Input should be 'md5hash'"):
        providers.get("vo")
    monkeypatch.setenv("VONAGE_SIG_METHOD", "sha256")
    assert providers.get("vo").signature_method == "sha256"
