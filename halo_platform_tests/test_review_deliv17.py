"""Review 17 of delivery's edge cases: the channel fallback sensor after runs that failed for good,
evaluated with a real instance and the real store; an SMTP relay that does not offer what its
settings require (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import time

import dagster as dg

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.providers.base import ACKNOWLEDGED
from halo_platform.delivery.service import message_view, submit
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import fakes, halo_store, make_provider, outgoing, providers_file  # noqa: F401 - fixtures
from halo_platform_tests.delivery.helpers import drain


def test_a_channel_fallback_run_failing_every_time_is_asked_for_again_less_and_less_often(fakes, providers_file, halo_store,  # noqa: F811
                                                                                         monkeypatch):
    """A fallback run that failed for good is asked for again under a new key (9f7dbdb), as the EMR
    landing sensor does, but at every tick: a run failing every time (the store down for an hour, a
    bug) was launched again every 10 s, each failure costing an alert. As the landing sensor: at the
    next tick after a first failure, then a minute after the last one (doubling up to an hour)."""
    from halo_platform.delivery.follow_up import channel_fallback_job, channel_fallback_sensor
    from halo_platform_tests.delivery.test_fallback import failed_sms

    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"],
               "sender": "noreply@example.com"},
    })
    sms_id = failed_sms(providers, halo_store)
    instance = dg.DagsterInstance.ephemeral()
    cursor: list[str | None] = [None]

    def evaluate() -> dg.RunRequest | dg.SkipReason:
        with dg.build_sensor_context(instance=instance, resources={"store": halo_store}, cursor=cursor[0]) as context:
            result = channel_fallback_sensor(context)
            cursor[0] = context.cursor
            return result

    def launched(request: dg.RunRequest, on: StoreResource) -> bool:  # the run the daemon makes of it
        tags = {**(request.tags or {}), "dagster/run_key": request.run_key, "dagster/sensor_name": "channel_fallback_sensor"}
        return channel_fallback_job.execute_in_process(run_config=request.run_config, instance=instance, tags=tags,
                                                       resources={"store": on, "providers": providers},
                                                       raise_on_error=False).success

    down = StoreResource(db_url="postgresql+psycopg://postgres@127.0.0.1:1/halo")  # nothing listens there
    first = evaluate()
    assert isinstance(first, dg.RunRequest) and not launched(first, down)
    second = evaluate()  # at the next tick after a first failure
    assert isinstance(second, dg.RunRequest) and not launched(second, down)
    held = evaluate()
    assert isinstance(held, dg.SkipReason), held.run_key  # the tick after a second failure: not launched again at once
    assert "failed for good 2 times" in (held.skip_message or "")

    real = time.time
    with monkeypatch.context() as later:
        later.setattr(time, "time", lambda: real() + 61)  # a minute after the last failure
        third = evaluate()
    assert isinstance(third, dg.RunRequest) and third.run_key not in (first.run_key, second.run_key)
    assert launched(third, halo_store)
    assert message_view(sms_id, halo_store)["fallback"] is not None



def test_a_relay_that_does_not_offer_starttls_says_so_and_another_provider_takes_the_message(smtp_server, tls_files, fakes, providers_file,  # noqa: F811
                                                                                            halo_store) -> None:  # noqa: F811
    """A relay that does not offer STARTTLS (its settings say `starttls: true`) refused every message
    with the reason 'not sent: SMTPNotSupportedError' (smtplib's exception, also raised for a relay
    without AUTH): nothing told the operator which setting the relay does not honour. The reason is
    now a configuration error naming what the relay lacks. The message is not the relay's to end:
    it is retried, and another provider of the route takes it."""
    smtp_server.switches.offer_starttls = False
    relay = {"kind": "smtp", "channel": "email", "host": "localhost", "port": smtp_server.port, "starttls": True,
             "ca_file": str(tls_files.ca_path), "sender": "noreply@example.com"}
    sendgrid = {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"}
    config = providers_file({"relay": relay, "sg": sendgrid},
                            [{"channel": "email", "country": "*", "capability": "*", "weights": {"relay": 1_000_000, "sg": 1}}])
    view, _ = submit("email", {"to": "ada@example.com", "subject": "Your results", "body": "They are ready"}, store=halo_store, providers=config)
    drain(config, halo_store, "email")
    first = message_view(view["id"], halo_store)
    assert (first["status"], first["provider"]) == ("retry_scheduled", "relay")
    assert first["events"][-1]["detail"] == "configuration error: STARTTLS extension not supported by server."
    drain(config, halo_store, "email", clock=lambda: utcnow() + dt.timedelta(hours=1))  # past the backoff
    assert (message_view(view["id"], halo_store)["status"], [a["to"] for a in fakes["sendgrid"].accepted]) == ("sent", ["ada@example.com"])
    assert smtp_server.messages.snapshot() == []


def test_a_relay_over_implicit_tls_with_starttls_also_set_takes_the_message_over_tls(smtp_server, tls_files, make_provider) -> None:  # noqa: F811
    """`use_ssl: true` and `starttls: true` (both saying "TLS") had the provider ask for STARTTLS on a
    connection already encrypted: a relay on its SMTPS port offers none there, and every message
    was refused as the relay's configuration error. The connection is TLS from its first byte, as
    the email sink takes `ssl` with `starttls`: the message goes over it."""
    provider = make_provider("smtp", smtp_server, host="localhost", port=smtp_server.ssl_port, use_ssl=True, starttls=True,
                             ca_file=str(tls_files.ca_path))
    result = provider.send(outgoing("email"))
    assert result.outcome == ACKNOWLEDGED, result.detail
    assert [(m.tls, m.port) for m in smtp_server.messages.snapshot()] == [(True, smtp_server.ssl_port)]


def test_one_stored_fallback_that_its_own_submission_refuses_does_not_cancel_the_others(fakes, providers_file, halo_store,  # noqa: F811
                                                                                       caplog) -> None:
    """A fallback is checked when its SMS is submitted; one stored before a check was added (a
    subject with a line break, an address now refused) failed its own submission (422) when its SMS
    failed, which ended the fallback run: every other SMS of the run got no fallback, and every run
    after it failed the same way while that SMS stayed in the sensor's look-back. It is logged as not
    made, as a fallback whose key is taken is, and the others are made."""
    import sqlalchemy as sa

    from halo_platform.delivery.fallback import send_fallbacks
    from halo_platform.delivery.tables import Message
    from halo_platform_tests.delivery.test_fallback import FALLBACK, failed_sms

    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"],
               "sender": "noreply@example.com"},
    })
    first, second = failed_sms(providers, halo_store), failed_sms(providers, halo_store)
    with halo_store.write() as conn:  # as a version that did not check subjects stored it
        conn.execute(sa.update(Message).where(Message.id == first).values(fallback={**FALLBACK, "subject": "Your\r\nBcc: x@example.com"}))
    result = send_fallbacks(halo_store, providers)
    assert len(result["made"]) == 1 and message_view(second, halo_store)["fallback"] == result["made"][0]
    assert message_view(first, halo_store)["fallback"] is None
    assert f"fallback of {first} not made: subject: must be one line (no CR or LF)" in caplog.text
