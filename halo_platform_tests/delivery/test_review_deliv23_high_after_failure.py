"""A HIGH message (an OTP) after a retryable provider failure, against the real Twilio and Vonage
fakes: Twilio answers every send 503 while a dispatcher works through queued LOW messages that
fail there and are retried. The HIGH message does not queue behind them nor take a backoff: it
fails over to Vonage inside the API call, well inside its 5 s deadline, and answers `sent`."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.service import enqueue_many, message_view, submit
from halo_platform.delivery.tables import DeliveryAttempt
from halo_platform_tests.delivery.test_dispatch import sms, sms_config


def high_round(store, config) -> tuple[float, dict]:  # noqa: ANN001
    started = time.perf_counter()
    view, _ = submit("sms", sms(1, "HIGH", f"otp{time.time_ns()}")[0], store=store, providers=config)
    return time.perf_counter() - started, view


def test_a_high_message_after_a_retryable_failure_fails_over_in_the_call_while_low_retries_run(fakes, providers_file, halo_store):
    fakes["twilio"].set_switches(failure_rate=1.0)  # 503 to every send
    config = sms_config(providers_file, fakes, {"tw": 1_000_000, "vo": 1}, retry={"max_retries": 5, "backoff_seconds": [1]})
    alone = min(high_round(halo_store, config)[0] for _ in range(3))
    enqueue_many("sms", sms(300, "LOW"), store=halo_store, providers=config)
    dispatcher = Dispatcher(config, halo_store, batch_size=20)  # LOW retries come due a second after each failure
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():
            dispatcher.run_once("sms")

    worker = threading.Thread(target=busy)
    worker.start()
    try:
        time.sleep(0.3)
        rounds = [high_round(halo_store, config) for _ in range(5)]
    finally:
        stop.set()
        worker.join(30)
        dispatcher.close()
    busiest = max(seconds for seconds, _ in rounds)
    print(f"HIGH with Twilio failing: alone {alone * 1000:.0f} ms; while LOW retries run, worst of 5 {busiest * 1000:.0f} ms")
    assert all(view["status"] == "sent" and view["provider"] == "vo" for _, view in rounds), [(v["status"], v["provider"], message_view(v["id"], halo_store)["events"]) for _, v in rounds if v["status"] != "sent"]
    assert busiest < 2.5, f"{busiest:.2f} s: half the 5 s deadline"
    with halo_store.read() as conn:
        for _, view in rounds:
            tried = conn.execute(sa.select(DeliveryAttempt.provider, DeliveryAttempt.outcome).where(DeliveryAttempt.message_id == view["id"])
                                 .order_by(DeliveryAttempt.id)).all()
            assert [tuple(t) for t in tried] == [("tw", "retryable"), ("vo", "acknowledged")]
