"""FCM with a Google service account against the FCM fake, which issues access tokens at its
OAuth2 token endpoint (checking the JWT's RS256 signature, audience, scope and times) and
refuses a send whose bearer it did not issue or that expired: google-auth mints one token for
many sends, mints a new one before the old expires, and a key the endpoint does not trust sends
nothing (retryable, so the autopilot sees the provider failing)."""

from __future__ import annotations

import time

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import ACKNOWLEDGED, RETRYABLE
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.lab.provider_fakes import fcm_service_account
from halo_platform_tests.delivery.conftest import outgoing


@pytest.fixture
def fcm(fakes, make_provider, tmp_path):  # noqa: ANN001, ANN201
    fake = fakes["fcm"]

    def make(trusted: bool = True):  # noqa: ANN202
        path = fcm_service_account(fake, tmp_path / f"service-account-{trusted}.json", trusted=trusted)
        return make_provider("fcm", fake, name=f"fcm_{trusted}", service_account_file=str(path), access_token=None)

    return fake, make


def test_one_token_is_minted_for_many_sends(fcm):
    fake, make = fcm
    provider = make()
    results = [provider.send(outgoing("push")) for _ in range(3)]
    assert [r.outcome for r in results] == [ACKNOWLEDGED] * 3
    assert len(fake.issued) == 1
    assert len(fake.accepted) == 3


def test_a_token_is_minted_anew_before_it_expires(fcm):
    fake, make = fcm
    fake.token_lifetime = 227  # google-auth refreshes 225 s before expiry: this token is "expiring" after 2 s
    provider = make()
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    first = list(fake.issued)
    assert len(first) == 1
    time.sleep(2.2)
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    assert len(fake.issued) == 2
    assert fake.issued[first[0]] > time.time()  # the old token had not expired yet


def test_an_untrusted_service_account_sends_nothing_and_is_unhealthy(fcm):
    fake, make = fcm
    provider = make(trusted=False)
    result = provider.send(outgoing("push"))
    assert result.outcome == RETRYABLE and "no FCM access token" in result.detail and "PRIVATE KEY" not in result.detail
    assert provider.health() is False
    assert list(fake.accepted) == [] and fake.issued == {}


def test_a_bearer_the_fake_did_not_issue_is_refused(fakes, make_provider):
    provider = make_provider("fcm", fakes["fcm"], access_token="ya29.forged")
    result = provider.send(outgoing("push"))
    assert result.outcome != ACKNOWLEDGED and result.http_status == 401
    assert list(fakes["fcm"].accepted) == []


@pytest.mark.parametrize("credentials", [{}, {"access_token": "t", "service_account_file": "/x.json"}])
def test_exactly_one_credential_is_required(credentials):
    entry = ProviderEntry("fcm", "fcm", "push", ("*",), ("*",), {"kind": "fcm", "channel": "push", "project_id": "p", **credentials})
    with pytest.raises(HaloError, match="fcm"):
        ProvidersResource().build(entry)


@pytest.mark.parametrize("kind", ["fcm", "onesignal"])
def test_a_throttled_push_fake_answers_429_with_retry_after_and_the_send_is_retryable(fakes, make_provider, kind):
    fake = fakes[kind]
    provider = make_provider(kind, fake)
    fake.throttle(1.5)
    assert provider.send(outgoing("push")).outcome == RETRYABLE
    refused = fake.requests.snapshot()[-1]
    assert refused.status == 429
    time.sleep(1.6)
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    assert fake.retry_after() is None


def test_a_token_refused_before_its_expiry_is_replaced_and_the_message_retried(fcm):
    fake, make = fcm
    provider = make()
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    fake.issued.clear()  # revoked
    refused = provider.send(outgoing("push"))
    assert (refused.outcome, refused.http_status) == (RETRYABLE, 401)
    assert provider.send(outgoing("push")).outcome == ACKNOWLEDGED
    assert len(fake.issued) == 1 and len(fake.accepted) == 2
