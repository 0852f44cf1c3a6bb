"""`halo bench delivery`: drain throughput of queued LOW SMS + email over four provider fakes
on loopback (each in its own process), on a SQLite store and on PostgreSQL with 1, 2 and 4
dispatcher processes per channel sharing the queue (as the queue sensor launches dispatch
runs: each drains one channel), with HIGH API latency during each drain, and in the
same run the two references: the naive loop (one blocking request per message, a new
connection each) and the raw capacity of the fakes (plain pooled HTTP requests with the same
request shapes and batch sizes, no platform logic) as the limit. Every run checks that no
fake accepted a message twice."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import click
import httpx
import yaml

from halo_platform.core.errors import HaloError
from halo_platform.lab.fakehttp import FakeProcess, run_in_process
from halo_platform.lab.ports import free_port
from halo_platform.lab.provider_fakes import SECRETS

SMS_KINDS = ("twilio", "vonage")
EMAIL_KINDS = ("sendgrid", "mailjet")
TEMPLATES = [f"Your appointment reminder, template {i}: see you soon." for i in range(10)]
# connections per SMS provider per dispatcher: a request waits for its in-flight marker's
# commit, so more connections share each transaction. With a thread per connection, past 8 the
# drain gained little and the transactions, which a HIGH write may wait for, got longer (p99
# 9.9 ms with 8, 26.9 ms with 16, load 16-20). One sending loop holds connections for no threads:
# 20,000 messages, 16 vs 8 back to back (load 10-11): transactions 539 / 512 / 526 vs 872 / 828 /
# 864 and dispatcher CPU 2.7 / 2.5 / 2.5 vs 3.0 / 3.2 / 3.8 s on SQLite / PostgreSQL x1 / x2;
# 3,698 / 2,109 / 2,708 vs 3,595 / 1,951 / 1,857 msg/s; HIGH p99 87 vs 87 ms on SQLite. 32 vs 16,
# 40,000 messages, two pairs back to back (load 4-7): 37 / 38% vs 27 / 34% of raw on SQLite, 30 / 30% vs
# 28 / 24% on PostgreSQL x1, 38% vs 33 / 27% x2, with a third fewer transactions; HIGH p99 within the spread.
# 64 vs 32, 30,000 messages, two runs each taking turns (2026-12-05 07:17-07:25, load 0.2-4, nothing else
# running): 59 / 59% vs 53 / 44% of raw on SQLite x1, 46 / 53% vs 52 / 49% x2, 46 / 50% vs 47 / 43% on
# PostgreSQL x1, 48 / 54% vs 42 / 51% x2; HIGH p99 within the spread (SQLite x1 30 / 24 vs 26 / 26 ms)
CONCURRENCY = 64
RAW_CONCURRENCY = 4  # connections per SMS fake for the raw-capacity reference
PG_ADMIN_URL = os.environ.get("HALO_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _providers_yaml(fakes: dict[str, FakeProcess]) -> dict:
    base = {"countries": ["*"], "capabilities": ["*"], "max_concurrency": CONCURRENCY, "timeout_seconds": 10}
    return {
        "providers": {
            "twilio": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000", **base},
            "vonage": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"], **base},
            "sendgrid": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com", **base, "max_concurrency": 2},
            "mailjet": {"kind": "mailjet", "channel": "email", "base_url": fakes["mailjet"].url, **SECRETS["mailjet"], "sender": "noreply@example.com", **base, "max_concurrency": 4},
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


def raw_capacity(fakes: dict[str, FakeProcess], messages: int, connections: int = RAW_CONCURRENCY) -> float:
    """Messages/s the fakes take from plain keep-alive http.client connections (`connections` per
    SMS fake, batches of 1000 / 50 for SendGrid / Mailjet), the same SMS/email mix as the drain."""
    jobs: list[tuple[str, list[tuple[str, bytes, dict, int]]]] = []
    sms_each = messages // 4
    for kind in SMS_KINDS:
        per_thread = max(sms_each // connections, 1)
        for t in range(connections):
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


def _fresh(fakes: dict[str, FakeProcess], latency: float) -> None:
    """The fakes' records cleared and switches off, then every answer delayed by `latency` seconds."""
    for fake in fakes.values():
        fake.reset()
        if latency:
            fake.set_switches(latency_seconds=latency)


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
    port = free_port()
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


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _dispatch_worker(env: dict[str, str], channel: str, ready, go, out) -> None:  # noqa: ANN001
    """One dispatcher of `channel` in a process of its own, as the queue sensor launches a
    Dagster dispatch run: connects and loads its configuration, says ready, drains its
    channel once told to go."""
    os.environ.update(env)
    warnings.filterwarnings("ignore", module="dagster")  # beta notices are for developers, not these figures
    import halo_platform.definitions  # noqa: F401 - loaded as a dispatch run loads the code location (its objects frozen out of the GC)
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.dispatch import Dispatcher
    from halo_platform.delivery.resources import ProvidersResource

    store, providers = StoreResource(db_url=env["HALO_DB_URL"]), ProvidersResource(providers_file=env["HALO_PROVIDERS_FILE"])
    try:
        store.engine  # noqa: B018 - connect and check the schema before the clock starts
        dispatcher = Dispatcher(providers, store)  # the dispatch job's batch for this store
        ready.set()
        go.wait()
        cpu = time.process_time()
        stats = dispatcher.drain([channel])
        dispatcher.close()
        out.put(("ok", {**stats.as_dict(), "cpu": time.process_time() - cpu, "channel": channel}))
    except BaseException as exc:  # noqa: BLE001 - reported to the bench
        ready.set()
        out.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        providers.close()
        store.dispose()


@contextlib.contextmanager
def _postgresql_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server of `admin_url`, dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    name = f"halo_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _commit_ms(store) -> float:  # noqa: ANN001 - a StoreResource
    """The p50 of a one-row write transaction on `store`'s engine (its own table, in the bench's
    database): a HIGH send makes two such durable commits (its in-flight marker before the request,
    the answer after), so this is the floor the store puts under it. On PostgreSQL a commit waits
    for its WAL to reach the disk (an fdatasync); SQLite in WAL with synchronous=NORMAL does not."""
    import sqlalchemy as sa

    table = sa.Table("bench_commit", sa.MetaData(), sa.Column("n", sa.Integer))
    table.create(store.engine, checkfirst=True)
    times = []
    for n in range(50):
        t0 = time.perf_counter()
        with store.write() as conn:
            conn.execute(table.insert(), {"n": n})
        times.append((time.perf_counter() - t0) * 1000)
    return _pct(times, 0.5)


def _platform_run(label: str, db_url: str, dispatchers: int, fakes: dict[str, FakeProcess], env: dict[str, str], count: int,
                  high_count: int, raw: float, latency: float = 0.0) -> Iterator[str]:
    """Queue `count` LOW messages in the store at `db_url`, drain them with `dispatchers`
    processes per channel while HIGH requests go through the API; the figures, and a RuntimeError when a
    fake accepted a message twice."""
    import multiprocessing

    import sqlalchemy as sa

    from halo_platform.access.keys import create_key
    from halo_platform.core.models import utcnow
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.resources import ProvidersResource
    from halo_platform.delivery.service import enqueue_many
    from halo_platform.delivery.tables import DeliveryAttempt, Message

    env = {**env, "HALO_DB_URL": db_url}
    store = StoreResource(db_url=db_url)
    providers = ProvidersResource(providers_file=env["HALO_PROVIDERS_FILE"])
    half = count // 2
    enqueue_many("sms", ({"to": "+33612345678", "body": f"bench {i}", "priority": "LOW"} for i in range(half)), store=store, providers=providers)
    enqueue_many("email", ({"to": f"user{i}@example.com", "subject": "Reminder", "body": TEMPLATES[i % len(TEMPLATES)], "priority": "LOW"}
                           for i in range(count - half)), store=store, providers=providers)
    key = create_key(store, "bench", ["messages:send"], rate_per_second=100_000)  # the API asks every caller for one
    api, api_url = _start_api(env)
    mp = multiprocessing.get_context("spawn")
    go, stop, out, high_out = mp.Event(), mp.Event(), mp.Queue(), mp.Queue()
    workers, results = [], []
    try:
        for i in range(20):  # warm the API process (imports, pools) before measuring
            httpx.post(api_url + "/v1/messages/sms", json={"to": "+33612345678", "body": f"warm {i}", "priority": "HIGH"}, timeout=10,
                       headers={"Authorization": f"Bearer {key}"})
        # the same requests with no drain running: what the machine's load alone does to them
        quiet = mp.Process(target=_high_latency, args=(api_url, key, min(100, high_count), stop, high_out))
        quiet.start()
        alone, _ = high_out.get(timeout=120)
        quiet.join()
        commit_ms = _commit_ms(store)
        _fresh(fakes, latency)
        channels = [channel for channel in ("sms", "email") for _ in range(dispatchers)]
        readies = [mp.Event() for _ in channels]
        workers = [mp.Process(target=_dispatch_worker, args=(env, channel, ready, go, out)) for channel, ready in zip(channels, readies, strict=True)]
        for w in workers:
            w.start()
        for ready in readies:
            ready.wait(120)
        high = mp.Process(target=_high_latency, args=(api_url, key, high_count, stop, high_out))
        high.start()
        time.sleep(0.5)  # the HIGH client's first requests land before the drain starts
        started, drain_from = time.perf_counter(), utcnow()
        go.set()
        results = [out.get(timeout=1800) for _ in workers]
        elapsed, drain_to = time.perf_counter() - started, utcnow()
        stop.set()
        latencies, high_errors = high_out.get(timeout=60)
        high.join()
    finally:
        go.set()
        for w in workers:
            w.join(60)
        api.terminate()
        api.wait(10)
    failed = [detail for status, detail in results if status != "ok"]
    if failed:
        raise RuntimeError(f"{label}: a dispatcher failed: {failed[0]}")
    with store.read() as conn:
        sent = conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.status == "sent", Message.priority == "LOW")).scalar_one()
        # the provider's part of each HIGH request during the drain, as the API recorded it
        provider_ms = list(conn.execute(
            sa.select(DeliveryAttempt.latency_ms).join(Message, Message.id == DeliveryAttempt.message_id)
            .where(Message.priority == "HIGH", DeliveryAttempt.at.between(drain_from, drain_to), DeliveryAttempt.latency_ms.is_not(None))).scalars())
    store.dispose()
    providers.close()
    accepted = {k: httpx.get(f.url + "/__halo__/accepted", timeout=10).json() for k, f in fakes.items()}
    twice = sum(a["accepted"] - a["unique"] for a in accepted.values())
    rate = sent / elapsed
    stats = [detail for _, detail in results]
    phases: dict[str, float] = {}
    for st in stats:
        for k, v in st["phases"].items():
            phases[k] = phases.get(k, 0.0) + v
    yield (f"  {label}: {sent:,} of {count:,} sent in {elapsed:.1f} s = {rate:,.0f} msg/s = {rate / raw:.0%} of raw; "
           f"HIGH p50 {_pct(latencies, 0.5):.1f} ms, p99 {_pct(latencies, 0.99):.1f} ms, max {max(latencies, default=float('nan')):.1f} ms "
           f"({len(latencies)} requests{f', {len(high_errors)} failed: {high_errors[0]}' if high_errors else ''}; "
           f"without the drain p50 {_pct(alone, 0.5):.1f} ms, p99 {_pct(alone, 0.99):.1f} ms, of which 2 durable commits, "
           f"p50 {commit_ms:.1f} ms each alone; the provider fake's answer within "
           f"each during the drain p50 {_pct(provider_ms, 0.5):.1f} ms, p99 {_pct(provider_ms, 0.99):.1f} ms); {_load()}")
    yield (f"    where the time goes (summed over {len(workers)} dispatchers and their threads): "
           + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
           + f"; {sum(st['commits'] for st in stats):,} sending transactions; dispatcher CPU {sum(st['cpu'] for st in stats):.1f} s; "
           + "each dispatcher's drain (CPU): " + ", ".join(f"{st['channel']} {st['seconds']:.1f} s ({st['cpu']:.1f} s)"
                                                          for st in sorted(stats, key=lambda st: st["channel"], reverse=True)))
    yield "    accepted by the fakes: " + ", ".join(f"{k} {a['accepted']:,}" for k, a in accepted.items()) + f"; accepted twice: {twice}"
    if twice:
        raise RuntimeError(f"{label}: {twice} message(s) accepted twice by a fake")
    if sent != count:
        raise RuntimeError(f"{label}: {count - sent:,} message(s) not sent")


def _per_channel(n: int) -> str:
    return f"{n} dispatcher{'s' if n > 1 else ''} per channel"


def _load() -> str:
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def run_bench(count: int = 100_000, high_count: int = 300, pg_admin_url: str | None = PG_ADMIN_URL,
              dispatchers: tuple[int, ...] = (1, 2, 4), latency_ms: float = 0.0) -> Iterator[str]:
    """The figures, a line at a time. `latency_ms`: every fake answers that much later, as real
    providers do; the raw reference then drives as many connections as a dispatcher, so that it
    measures what the wire can carry at that latency, and the references send fewer messages."""
    if count < 100:
        raise HaloError("--messages must be at least 100")
    if high_count < 0:
        raise HaloError("--high must be 0 or more")
    if not 0 <= latency_ms <= 5000:
        raise HaloError("--latency-ms must be between 0 and 5000")
    latency = latency_ms / 1000
    with tempfile.TemporaryDirectory(prefix="halo-bench-") as tmp, contextlib.ExitStack() as stack:
        fakes = {kind: stack.enter_context(run_in_process(f"halo_platform.lab.provider_fakes:{kind}_fake", record=False))
                 for kind in SMS_KINDS + EMAIL_KINDS}
        home = Path(tmp)
        providers_file = home / "providers.yaml"
        providers_file.write_text(yaml.safe_dump(_providers_yaml(fakes)))
        env = {"HALO_HOME": str(home), "HALO_PROVIDERS_FILE": str(providers_file), "HALO_ALERTS": ""}
        yield (f"delivery bench: {count:,} LOW messages per run (half SMS over twilio+vonage, half email over sendgrid+mailjet), "
               f"fakes in 4 processes answering after {latency_ms:g} ms, {CONCURRENCY} connections per SMS provider per dispatcher; {_load()}")
        _fresh(fakes, latency)
        naive_n = min(2000, count, max(20, int(20 / latency)) if latency else 2000)
        naive = naive_loop(fakes, naive_n)
        yield f"  naive loop (one blocking request per message, new connection each, {naive_n} msgs): {naive:,.0f} msg/s"
        connections = CONCURRENCY if latency else RAW_CONCURRENCY
        # about 10 s of SMS at that latency: the wire's capacity, not the time it takes to send everything
        raw_count = min(count, 40_000, int(40 * connections / latency) if latency else 40_000)
        runs = [(f"SQLite, {_per_channel(n)}", n, contextlib.nullcontext(f"sqlite:///{home / f'halo-{n}.db'}")) for n in dispatchers]
        if pg_admin_url is not None:
            runs += [(f"PostgreSQL, {_per_channel(n)}", n, _postgresql_database(pg_admin_url)) for n in dispatchers]
        for label, n, database in runs:
            # measured again before each drain: this shared machine's speed moves by a third within
            # minutes, so each drain is compared with the wire as it is at the time
            _fresh(fakes, latency)
            raw = raw_capacity(fakes, raw_count, connections)
            _fresh(fakes, latency)
            yield (f"  raw capacity of the fakes just before the next run (pooled http.client, {connections} connections per SMS fake, "
                   f"same shapes/batches, no platform): {raw:,.0f} msg/s; {_load()}")
            with database as url:
                yield from _platform_run(label, url, n, fakes, env, count, high_count, raw, latency)


@click.command("delivery")
@click.option("--messages", "count", default=100_000, show_default=True, help="LOW messages to queue and drain (SMS + email) in each run.")
@click.option("--high", "high_count", default=300, show_default=True, help="HIGH API requests at most during each drain (one every 20 ms).")
@click.option("--pg-admin-url", default=PG_ADMIN_URL, show_default=True,
              help="A PostgreSQL server where the bench may create (and drop) a database per run; 'none' skips PostgreSQL.")
@click.option("--dispatchers", default="1,2,4", show_default=True,
              help="Dispatcher processes per channel in each run (on SQLite, then on PostgreSQL), comma-separated.")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(0, 5000),
              help="Every fake answers this much later, as real providers do (the raw reference then uses a dispatcher's connections).")
def bench_delivery(count: int, high_count: int, pg_admin_url: str, dispatchers: str, latency_ms: float) -> None:
    """Drain throughput over 4 fake providers on loopback, on SQLite and on PostgreSQL with 1/2/4 dispatchers per channel, vs the
    naive loop and the fakes' raw capacity; HIGH API latency during each drain; no message accepted twice."""
    try:
        counts = tuple(int(n) for n in dispatchers.split(","))
        if not counts or min(counts) < 1:
            raise ValueError
    except ValueError:
        raise click.UsageError("--dispatchers takes positive whole numbers separated by commas, e.g. 1,2,4") from None
    for line in run_bench(count, high_count, None if pg_admin_url.lower() == "none" else pg_admin_url, counts, latency_ms):
        click.echo(line)
