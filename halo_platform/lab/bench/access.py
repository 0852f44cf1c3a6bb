"""`halo bench access`: what authentication costs a request, and how the rate limit behaves
under concurrent clients of a multi-worker service.

Overhead: the same request (`GET /v1/messages/<unknown>`: authenticate, look up, 404) served by
real uvicorn, with the key checked (ours) and with the route's guard replaced by a constant
caller (baseline: no authentication); the raw limit is `check_key` alone, the store transaction
every authenticated request makes. Rate limit: 4 clients, a new connection per request, `GET /v1/messages/<unknown>` against
`halo serve --workers 2`, one key at `--rate`, for `--seconds`."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import click

from halo_platform.lab.ports import free_port


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def _timed_requests(url: str, headers: dict[str, str], n: int) -> list[float]:
    import httpx

    samples = []
    with httpx.Client(headers=headers, timeout=30) as client:
        for _ in range(n):
            started = time.perf_counter()
            client.get(url)
            samples.append(time.perf_counter() - started)
    return samples


def _serve_in_thread(app) -> tuple[str, object]:  # noqa: ANN001
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    host, port = sock.getsockname()
    return f"http://{host}:{port}", server


def _without_authentication(app) -> None:  # noqa: ANN001
    """Replace every route's guard (the dependencies `requires` made) by a constant admin caller."""
    from halo_platform.access.guard import Caller

    admin = Caller("bench", "key", frozenset({"admin"}))

    def walk(dependant) -> None:  # noqa: ANN001
        for sub in dependant.dependencies:
            if hasattr(sub.call, "before_body"):  # the guard `access.guard.requires` made
                app.dependency_overrides[sub.call] = lambda: admin
            walk(sub)

    def routes(candidates) -> None:  # noqa: ANN001 - FastAPI keeps an included router as one entry
        for route in candidates:
            if hasattr(route, "original_router"):
                routes(route.original_router.routes)
            elif hasattr(route, "dependant"):
                walk(route.dependant)

    routes(app.routes)


def _overhead(requests: int) -> None:
    import httpx

    from halo_platform.access import keys
    from halo_platform.access.keys import check_key, create_key
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.resources import ProvidersResource
    from halo_platform.http import create_app

    store = StoreResource()
    key = create_key(store, f"bench-{os.getpid()}-{time.time_ns()}", ["admin"], rate_per_second=100_000)
    variants = {"baseline (no authentication)": ({}, True), "ours (key checked)": ({"Authorization": f"Bearer {key}"}, False)}
    servers, figures = {}, {label: [] for label in variants}
    for label, (headers, open_door) in variants.items():
        app = create_app({"store": store, "providers": ProvidersResource()})
        if open_door:
            _without_authentication(app)
        servers[label] = _serve_in_thread(app)
        probe = httpx.get(f"{servers[label][0]}/v1/messages/unknown", headers=headers, timeout=30)
        assert probe.status_code == 404, (label, probe.status_code)  # the baseline answers without a key
    for _ in range(5):  # interleaved rounds, so a busy moment of the machine hits both alike
        for label, (headers, _open) in variants.items():
            figures[label] += _timed_requests(f"{servers[label][0]}/v1/messages/unknown", headers, requests // 5)
    for _url, server in servers.values():
        server.should_exit = True
    raw, unbatched = [], []
    for samples, batch_seconds in ((unbatched, 0.0), (raw, keys.BATCH_SECONDS)):  # unbatched first: it holds nothing
        keys.BATCH_SECONDS, saved = batch_seconds, keys.BATCH_SECONDS  # 0: one token per write, a write per request
        try:
            for _ in range(requests):
                started = time.perf_counter()
                check_key(store, key)
                samples.append(time.perf_counter() - started)
        finally:
            keys.BATCH_SECONDS = saved
    click.echo(f"authentication overhead, {requests} sequential requests of GET /v1/messages/<unknown> over real uvicorn ({store.engine.dialect.name} store)")
    for label, samples in figures.items():
        click.echo(f"  {label:<30} {_percentiles(samples)}")
    base, ours = figures["baseline (no authentication)"], figures["ours (key checked)"]
    click.echo(f"  {'overhead':<30} p50 {(statistics.median(ours) - statistics.median(base)) * 1000:+6.2f} ms")
    click.echo(f"  {'raw: check_key alone':<30} {_percentiles(raw)}")
    click.echo(f"  {'check_key, a write per request':<30} {_percentiles(unbatched)}  (batching off: the first version)")
    store.dispose()


def _rate_limit(rate: float, seconds: float, clients: int, workers: int) -> None:
    import httpx

    from halo_platform.access.keys import create_key
    from halo_platform.core.store import StoreResource

    home = Path(tempfile.mkdtemp(prefix="halo-bench-access-"))
    env = {**os.environ, "HALO_HOME": str(home), "HALO_DB_URL": f"sqlite:///{home / 'halo.db'}"}
    store = StoreResource(db_url=env["HALO_DB_URL"])
    key = create_key(store, "bench", ["messages:read"], rate_per_second=rate)
    store.dispose()
    port = free_port()
    halo = str(Path(sys.executable).with_name("halo"))
    server = subprocess.Popen([halo, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        per_client: list[Counter] = [Counter() for _ in range(clients)]
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        def client(i: int) -> None:
            # no keep-alive: a new connection per request, which the kernel spreads over the workers
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30,
                              limits=httpx.Limits(max_keepalive_connections=0)) as http:
                while time.monotonic() < stop:
                    started = time.perf_counter()
                    answer = http.get(f"{url}/v1/messages/unknown")
                    latencies.append(time.perf_counter() - started)
                    per_client[i][answer.status_code] += 1

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        server.wait(timeout=20)
    total = sum(per_client, Counter())
    allowed = rate * elapsed + max(rate, 1)
    click.echo(f"rate limit: {clients} clients, one key at {rate:g}/s, halo serve --workers {workers}, {elapsed:.1f} s")
    # admitted: the key passed and the route answered (404: no such message)
    click.echo(f"  requests {sum(total.values())}  admitted {total[404]} ({total[404] / elapsed:.1f}/s)  refused 429 {total[429]}  "
               f"other {sum(v for k, v in total.items() if k not in (404, 429))}")
    click.echo(f"  the bucket allows at most {allowed:.0f} (burst {max(rate, 1):g} + {rate:g}/s); per client admitted: "
               + ", ".join(str(c[404]) for c in per_client))
    click.echo(f"  latency of every answer (admitted and 429): {_percentiles(latencies)}")


@click.command("access")
@click.option("--requests", default=2000, show_default=True, help="Sequential requests per variant for the overhead.")
@click.option("--rate", default=50.0, show_default=True, help="The key's rate for the concurrency run.")
@click.option("--seconds", default=10.0, show_default=True)
@click.option("--clients", default=4, show_default=True)
@click.option("--workers", default=2, show_default=True)
def bench_access(requests: int, rate: float, seconds: float, clients: int, workers: int) -> None:
    """Authentication overhead per request (p50/p99) and the rate limit under concurrent clients."""
    _overhead(requests)
    _rate_limit(rate, seconds, clients, workers)
