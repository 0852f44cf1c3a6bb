"""Review 18 of delivery and of the refusals of `halo tasks run`: an SMTP relay refusing our login
(535, aiosmtpd) is that provider failing, and the message goes to the route's next provider, once;
a sink named twice or with blanks around it is refused as a sink, alike on the CLI and the API."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.cli import cli
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.tables import DeliveryAttempt
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform.reports.audit import list_requests
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

EMAIL = {"to": "ada@example.com", "subject": "Your results", "body": "They are ready"}


def attempts_of(message_id: str, store: StoreResource) -> list[tuple[str, str]]:
    """(provider, outcome) of each request for the message, in order: what the autopilot counts."""
    with store.read() as conn:
        return [tuple(row) for row in conn.execute(sa.select(DeliveryAttempt.provider, DeliveryAttempt.outcome)
                                                   .where(DeliveryAttempt.message_id == message_id).order_by(DeliveryAttempt.id))]


@pytest.fixture
def wrong_login_route(smtp_server, fakes, providers_file):  # noqa: ANN001, ANN201
    """A route whose relay (almost all of its weight) is given a password the relay refuses, and SendGrid."""
    relay = {"kind": "smtp", "channel": "email", "host": "127.0.0.1", "port": smtp_server.port, "username": smtp_server.username,
             "password": "not-the-password", "sender": "noreply@example.com"}
    sendgrid = {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"}
    return providers_file({"relay": relay, "sg": sendgrid},
                          [{"channel": "email", "country": "*", "capability": "*", "weights": {"relay": 1_000_000, "sg": 1}}])


def test_a_high_email_whose_relay_refuses_our_login_goes_to_the_next_provider_at_once(wrong_login_route, smtp_server, fakes, halo_store):
    """providers.md: a 535 at login is a configuration error, the relay's (its credentials), not
    the message's. It ended the message `provider_error` at the first provider, as an invalid
    address would, while a relay down or a 5xx from an HTTP provider fails over: an OTP was not
    sent though SendGrid was there to take it. The relay's refusal is now an attempt that failed
    (counted by the autopilot), and the next provider sends the message, once."""
    view, _ = submit("email", {**EMAIL, "priority": "HIGH"}, store=halo_store, providers=wrong_login_route)
    assert (view["status"], view["provider"]) == ("sent", "sg"), view
    assert [a["to"] for a in fakes["sendgrid"].accepted] == ["ada@example.com"]
    assert smtp_server.messages.snapshot() == []
    assert {ok for _, ok in smtp_server.auth_attempts.snapshot()} == {False}  # a real 535 from the relay (to each mechanism)
    assert attempts_of(view["id"], halo_store) == [("relay", "retryable"), ("sg", "acknowledged")]


def test_a_queued_email_whose_relay_refuses_our_login_is_retried_and_another_provider_sends_it(wrong_login_route, smtp_server, fakes,
                                                                                                 halo_store):
    """The same for a NORMAL email: a retry, not `provider_error`; at its retry the router avoids the
    provider that failed it, and SendGrid sends it once."""
    view, _ = submit("email", EMAIL, store=halo_store, providers=wrong_login_route)
    drain(wrong_login_route, halo_store, "email")
    first = message_view(view["id"], halo_store)
    assert (first["status"], first["provider"]) == ("retry_scheduled", "relay"), first
    assert first["events"][-1]["detail"] == "configuration error: SMTP login refused (535)"
    drain(wrong_login_route, halo_store, "email", clock=lambda: utcnow() + dt.timedelta(hours=1))  # past the backoff
    assert message_view(view["id"], halo_store)["status"] == "sent"
    assert [a["to"] for a in fakes["sendgrid"].accepted] == ["ada@example.com"]
    assert smtp_server.messages.snapshot() == []


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


RUN = ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}']
SCHEDULE = ["schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *"]
SINKS_REFUSED = [
    (["outbox", "outbox"], "sinks: named more than once: outbox"),
    ([" outbox"], "sink name ' outbox' has blanks around it; known: alerts, outbox"),
    (["outbox "], "sink name 'outbox ' has blanks around it; known: alerts, outbox"),
]


@pytest.mark.parametrize(("sinks", "refusal"), SINKS_REFUSED)
def test_a_sink_given_twice_or_with_blanks_is_refused_as_a_sink_on_the_cli_the_api_and_a_schedule(halo_env, capsys, sinks, refusal):
    """`halo tasks run ... --sink outbox --sink outbox` said 'campaign_alerts: invalid payload: sinks:
    named more than once: outbox', blaming a payload that was fine (the API's `sinks`, beside its
    payload, the same), and `--sink " outbox"` 'unknown sink(s):  outbox; known: alerts, outbox',
    a known name refused for a blank nobody sees. The sinks named beside the payload are now
    checked as sinks, before the payload, by the one check every entry point takes
    (`SinksResource.validate_names`); nothing is queued or saved."""
    options = [a for sink in sinks for a in ("--sink", sink)]
    assert halo(capsys, *RUN, *options) == (2, [], [f"error: {refusal}"])
    assert halo(capsys, *SCHEDULE, *options) == (2, [], [f"error: {refusal}"])
    answer = authorized_client(create_app(), raise_server_exceptions=False).post(
        "/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}, "sinks": sinks})
    assert answer.status_code == 422 and answer.json() == {"error": refusal, "detail": [{"field": "sinks", "reason": refusal}]}
    assert list_requests(StoreResource(db_url=halo_env["HALO_DB_URL"]), None, None, 10) == []
    assert halo(capsys, "schedules", "list")[1] == ["no schedules"]
