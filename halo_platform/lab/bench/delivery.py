"""`halo bench delivery`: drain throughput of queued LOW SMS + email over four provider fakes
on loopback (each in its own process), HIGH API latency under that load, and in the same run
the two references: the naive loop (one blocking request per message, a new connection each)
and the raw capacity of the fakes (plain pooled HTTP requests with the same request shapes and
batch sizes, no platform logic) as the limit."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import click
import httpx
import yaml

from halo_platform.lab.fakehttp import FakeProcess, run_in_process
from halo_platform.lab.provider_fakes import SECRETS

SMS_KINDS = ("twilio", "vonage")
EMAIL_KINDS = ("sendgrid", "mailjet")
TEMPLATES = [f"Your appointment reminder, template {i}: see you soon." for i in range(10)]
CONCURRENCY = 2  # connections per SMS provider in the platform (more threads only add GIL contention)
RAW_CONCURRENCY = 4  # connections per SMS fake for the raw-capacity reference


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _providers_yaml(fakes: dict[str, FakeProcess]) -> dict:
    base = {"countries": ["*"], "capabilities": ["*"], "max_concurrency": CONCURRENCY, "timeout_seconds": 10}
    return {
        "providers": {
            "twilio": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000", **base},
            "vonage": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], **base},
            "sendgrid": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com", **base, "max_concurrency": 2},
            "mailjet": {"kind": "mailjet", "channel": "email", "base_url": fakes["mailjet"].url, **SECRETS["mailjet"], "sender": "noreply@example.com", **base, "max_concurrency": 2},
        },
        "routing": [
            {"channel": "sms", "country": "*", "capability": "*", "weights": {"twilio": 50, "vonage": 50}},
            {"channel": "email", "country": "*", "capability": "*", "weights": {"sendgrid": 50, "mailjet": 50}},
        ],
        "retry": {"max_retries": 5, "backoff_seconds": [1, 2, 4, 8, 16]},
    }


# -- the two references ------------------------------------------------------------------

def _sms_request(kind: str, i: int) -> tuple[str, bytes, dict]:
    if kind == "twilio":
        sid, token = SECRETS["twilio"]["account_sid"], SECRETS["twilio"]["auth_token"]
        import base64

        auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
        body = urlencode({"To": "+33612345678", "From": "+33700000000", "Body": f"raw {i}"}).encode()
        return f"/2010-04-01/Accounts/{sid}/Messages.json", body, {"Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"}
    body = urlencode({**SECRETS["vonage"], "from": "Halo", "to": "33612345678", "text": f"raw {i}", "client-ref": f"raw-{i}"}).encode()
    return "/sms/json", body, {"Content-Type": "application/x-www-form-urlencoded"}


def _email_request(kind: str, start: int, size: int) -> tuple[str, bytes, dict]:
    if kind == "sendgrid":
        body = {"personalizations": [{"to": [{"email": f"u{start + j}@example.com"}], "custom_args": {"halo_message_id": f"raw-{start + j}"}} for j in range(size)],
                "from": {"email": "noreply@example.com"}, "subject": "Reminder", "content": [{"type": "text/plain", "value": TEMPLATES[0]}]}
        return "/v3/mail/send", json.dumps(body).encode(), {"Authorization": f"Bearer {SECRETS['sendgrid']['api_key']}", "Content-Type": "application/json"}
    import base64

    auth = base64.b64encode(f"{SECRETS['mailjet']['api_key']}:{SECRETS['mailjet']['secret_key']}".encode()).decode()
    body = {"Messages": [{"From": {"Email": "noreply@example.com"}, "To": [{"Email": f"u{start + j}@example.com"}], "Subject": "Reminder",
                          "TextPart": TEMPLATES[0], "CustomID": f"raw-{start + j}"} for j in range(size)]}
    return "/v3.1/send", json.dumps(body).encode(), {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}


def raw_capacity(fakes: dict[str, FakeProcess], messages: int) -> float:
    """Messages/s the fakes take from plain keep-alive http.client connections (RAW_CONCURRENCY per
    SMS fake, batches of 1000 / 50 for SendGrid / Mailjet), the same SMS/email mix as the drain."""
    jobs: list[tuple[str, list[tuple[str, bytes, dict, int]]]] = []
    sms_each = messages // 4
    for kind in SMS_KINDS:
        per_thread = sms_each // RAW_CONCURRENCY
        for t in range(RAW_CONCURRENCY):
            jobs.append((kind, [(*_sms_request(kind, t * per_thread + i), 1) for i in range(per_thread)]))
    for kind, size, threads in (("sendgrid", 1000, 2), ("mailjet", 50, 4)):
        requests = [(*_email_request(kind, s, size), size) for s in range(0, sms_each, size)]
        for t in range(threads):
            jobs.append((kind, requests[t::threads]))
    done = [0] * len(jobs)

    def work(index: int, kind: str, requests: list) -> None:
        parts = urlsplit(fakes[kind].url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for path, body, headers, size in requests:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status < 300:
                done[index] += size
        conn.close()

    threads = [threading.Thread(target=work, args=(i, kind, reqs)) for i, (kind, reqs) in enumerate(jobs)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - started)


def naive_loop(fakes: dict[str, FakeProcess], messages: int) -> float:
    """Messages/s of one blocking request per message on a new connection each (no batching)."""
    started = time.perf_counter()
    for i in range(messages):
        kind = (SMS_KINDS + EMAIL_KINDS)[i % 4]
        path, body, headers = _sms_request(kind, i) if kind in SMS_KINDS else _email_request(kind, i, 1)
        parts = urlsplit(fakes[kind].url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status >= 300:
            raise RuntimeError(f"naive loop: {kind} answered {response.status}")
    return messages / (time.perf_counter() - started)


# -- the platform --------------------------------------------------------------------------

def _start_api(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "halo_platform.http:create_app", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API server did not start")


def _high_latency(url: str, key: str, count: int, stop, out) -> None:  # noqa: ANN001
    """HIGH requests paced every 20 ms, timed by a client in a process of its own (so the
    drain's threads do not hold its GIL); results go to `out` (a multiprocessing queue)."""
    latencies, errors = [], []
    with httpx.Client(base_url=url, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
        for i in range(count):
            if stop.is_set():
                break
            t0 = time.perf_counter()
            response = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": f"otp {i}", "priority": "HIGH"})
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code == 201 and response.json()["status"] == "sent":
                latencies.append(elapsed)
            else:
                errors.append(f"{response.status_code} {response.text[:100]}")
            time.sleep(0.02)
    out.put((latencies, errors))


def sa_backend(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).get_backend_name()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_bench(count: int = 100_000, high_count: int = 300, db_url: str | None = None) -> Iterator[str]:
    from halo_platform.access.keys import create_key
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.dispatch import Dispatcher, DispatchStats
    from halo_platform.delivery.resources import ProvidersResource
    from halo_platform.delivery.service import enqueue_many

    if count < 100:
        raise ValueError("--messages must be at least 100")
    with tempfile.TemporaryDirectory(prefix="halo-bench-") as tmp, contextlib.ExitStack() as stack:
        fakes = {kind: stack.enter_context(run_in_process(f"halo_platform.lab.provider_fakes:{kind}_fake", record=False))
                 for kind in SMS_KINDS + EMAIL_KINDS}
        home = Path(tmp)
        providers_file = home / "providers.yaml"
        providers_file.write_text(yaml.safe_dump(_providers_yaml(fakes)))
        env = {"HALO_HOME": str(home), "HALO_DB_URL": db_url or f"sqlite:///{home / 'halo.db'}", "HALO_PROVIDERS_FILE": str(providers_file), "HALO_ALERTS": ""}
        store = StoreResource(db_url=env["HALO_DB_URL"])
        providers = ProvidersResource(providers_file=str(providers_file))
        stack.callback(store.dispose)
        stack.callback(providers.close)
        yield f"delivery bench: {count:,} LOW messages (half SMS over twilio+vonage, half email over sendgrid+mailjet), fakes in 4 processes, {'SQLite' if not db_url else sa_backend(db_url)} store"

        raw = raw_capacity(fakes, min(count, 40_000))
        for fake in fakes.values():
            fake.reset()
        yield f"  raw capacity of the fakes (pooled http.client, same shapes/batches, no platform): {raw:,.0f} msg/s"
        naive_n = min(2000, count)
        naive = naive_loop(fakes, naive_n)
        for fake in fakes.values():
            fake.reset()
        yield f"  naive loop (one blocking request per message, new connection each, {naive_n} msgs): {naive:,.0f} msg/s"

        t0 = time.perf_counter()
        half = count // 2
        enqueue_many("sms", ({"to": "+33612345678", "body": f"bench {i}", "priority": "LOW"} for i in range(half)), store=store, providers=providers)
        enqueue_many("email", ({"to": f"user{i}@example.com", "subject": "Reminder", "body": TEMPLATES[i % len(TEMPLATES)], "priority": "LOW"}
                               for i in range(count - half)), store=store, providers=providers)
        enqueue_s = time.perf_counter() - t0
        yield f"  queued {count:,} messages through the validation path in {enqueue_s:.1f} s ({count / enqueue_s:,.0f} msg/s)"

        api, api_url = _start_api(env)
        key = create_key(store, "bench", ["messages:send"], rate_per_second=100_000)  # the API asks every caller for one
        latencies: list[float] = []
        high_errors: list[str] = []
        try:
            for i in range(20):  # warm the API process (imports, pools) before measuring
                httpx.post(api_url + "/v1/messages/sms", json={"to": "+33612345678", "body": f"warm {i}", "priority": "HIGH"}, timeout=10,
                           headers={"Authorization": f"Bearer {key}"})
            results: dict[str, DispatchStats] = {}

            def drain(channel: str) -> None:
                dispatcher = Dispatcher(providers, store, batch_size=500)
                results[channel] = dispatcher.drain([channel])
                dispatcher.close()

            import multiprocessing

            mp = multiprocessing.get_context("spawn")
            stop, results_q = mp.Event(), mp.Queue()
            high = mp.Process(target=_high_latency, args=(api_url, key, high_count, stop, results_q))
            drains = [threading.Thread(target=drain, args=(c,)) for c in ("sms", "email")]
            started = time.perf_counter()
            for t in drains:
                t.start()
            high.start()
            for t in drains:
                t.join()
            elapsed = time.perf_counter() - started
            stop.set()
            latencies, high_errors = results_q.get(timeout=60)
            high.join()
        finally:
            api.terminate()
            api.wait(10)
        providers.close()
        with store.read() as conn:
            import sqlalchemy as sa

            from halo_platform.delivery.tables import Message, MessageEvent

            sent = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.status == "sent", Message.priority == "LOW")).scalar_one()
            events = conn.execute(sa.select(sa.func.count()).select_from(MessageEvent).where(MessageEvent.event == "sent")).scalar_one()
        accepted = {k: httpx.get(f.url + "/__halo__/accepted", timeout=10).json() for k, f in fakes.items()}
        store.dispose()
        rate = sent / elapsed
        yield f"  platform drain: {sent:,} sent ({events:,} `sent` events stored) in {elapsed:.1f} s = {rate:,.0f} msg/s"
        yield f"    = {rate / raw:.0%} of the fakes' raw capacity, {rate / naive:.1f}x the naive loop"
        for channel, stats in results.items():
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in stats.phases.items())
            yield f"    {channel}: {stats.claimed:,} claimed in {stats.seconds:.1f} s ({phases}); by provider {dict(stats.by_provider)}"
        dupes = {k: a["accepted"] - a["unique"] for k, a in accepted.items()}
        counts = ", ".join(f"{k}: {a['accepted']:,}" for k, a in accepted.items())
        yield f"    accepted by the fakes: {counts}; accepted twice: {sum(dupes.values())}"
        yield (f"  HIGH API latency under that load ({len(latencies)} requests over uvicorn, sent to a fake): "
               f"p50 {_pct(latencies, 0.5):.1f} ms, p99 {_pct(latencies, 0.99):.1f} ms, max {max(latencies, default=float('nan')):.1f} ms"
               + (f"; {len(high_errors)} failed: {high_errors[0]}" if high_errors else ""))
        if latencies:
            yield f"    mean {statistics.fmean(latencies):.1f} ms"
        yield f"  targets: >= 2,000 msg/s {'met' if rate >= 2000 else 'NOT met'}; >= 50% of raw {'met' if rate >= raw / 2 else 'NOT met'}; HIGH p99 <= 50 ms {'met' if _pct(latencies, 0.99) <= 50 else 'NOT met'}"


@click.command("delivery")
@click.option("--messages", "count", default=100_000, show_default=True, help="LOW messages to queue and drain (SMS + email).")
@click.option("--high", "high_count", default=300, show_default=True, help="HIGH API requests measured during the drain.")
@click.option("--db-url", default=None, help="An empty operational store to use (default: a SQLite file in a temp folder).")
def bench_delivery(count: int, high_count: int, db_url: str | None) -> None:
    """Drain throughput over 4 fake providers on loopback vs the naive loop and the fakes' raw capacity; HIGH latency under load."""
    from halo_platform.lab.bench.delivery import run_bench

    for line in run_bench(count, high_count, db_url):
        click.echo(line)
