"""`halo bench emr-api`: latency of the availability API over real HTTP (`halo serve` in its own
process), REST and GraphQL, for one provider-week, 4 weeks x 1 provider and 20 providers `any`,
with N providers loaded; with `--drain`, while `halo emr process` ingests a second batch in
another process. `measure(url, key, feed, providers, first)` is the measurement alone, for other
benches to call against their own loaded service."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import httpx

from halo_platform.core.cli_options import PathGiven
from halo_platform.core.errors import HaloError
from halo_platform.lab.ports import free_port

FEED = "acme"
TZS = ("Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC")
HALO = str(Path(sys.executable).with_name("halo"))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def provider_ids(count: int) -> list[str]:
    return [f"P{i:05d}" for i in range(count)]


def write_batch(path: Path, providers: list[str], as_of: dt.date, days: int, bookings: int, seed: int, hours: bool) -> int:
    """An acme file: (with `hours`) every provider's week, Monday-Saturday 08:00-12:00 and
    13:00-18:00 local, then `bookings` half-hour bookings per provider spread over the days."""
    rng = random.Random(seed)
    lines = []
    if hours:
        week = {d: [["08:00", "12:00"], ["13:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat")}
        lines += [json.dumps({"type": "hours", "provider": p, "tz": rng.choice(TZS), "week": week,
                              "updated_at": "2026-11-01T00:00:00Z"}) for p in providers]
    for p in providers:
        for n in range(bookings):
            start = dt.datetime.combine(as_of + dt.timedelta(days=rng.randrange(days)), dt.time(8 + rng.randrange(10), rng.choice((0, 30))))
            lines.append(json.dumps({"type": "appointment", "action": "upsert", "id": f"{p}-{seed}-{n}", "provider": p,
                                     "start": start.isoformat(), "duration_min": 30, "tz": "UTC", "status": "booked",
                                     "updated_at": f"2026-11-{10 + seed % 10:02d}T00:00:00Z"}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _cases(feed: str, providers: list[str], first: dt.date) -> dict[str, Callable[[random.Random], tuple[str, dict]]]:
    """name -> (rng -> (method path, params or GraphQL body))."""
    def week(rng: random.Random, days: int) -> tuple[str, str, str]:
        start = first + dt.timedelta(days=rng.randrange(7))
        return rng.choice(providers), start.isoformat(), (start + dt.timedelta(days=days - 1)).isoformat()

    def rest_spans(days: int) -> Callable[[random.Random], tuple[str, dict]]:
        def make(rng: random.Random) -> tuple[str, dict]:
            p, a, b = week(rng, days)
            return "GET /v1/availability", {"feed": feed, "provider_id": p, "from": a, "to": b}
        return make

    def graphql_spans(days: int) -> Callable[[random.Random], tuple[str, dict]]:
        def make(rng: random.Random) -> tuple[str, dict]:
            p, a, b = week(rng, days)
            return "POST /graphql", {"query": f'{{ availableSpans(feed: "{feed}", providerId: "{p}", from: "{a}", to: "{b}") '
                                              "{ spanDate startAt endAt } }"}
        return make

    def group(rng: random.Random) -> tuple[str, list[str], str, str]:
        _, a, b = week(rng, 7)
        return feed, rng.sample(providers, 20), a, b

    def rest_group(rng: random.Random) -> tuple[str, dict]:
        f, ids, a, b = group(rng)
        return "GET /v1/availability/group", {"feed": f, "provider_ids": ",".join(ids), "mode": "any", "from": a, "to": b}

    def graphql_group(rng: random.Random) -> tuple[str, dict]:
        f, ids, a, b = group(rng)
        return "POST /graphql", {"query": f'{{ groupAvailability(feed: "{f}", providerIds: {json.dumps(ids)}, mode: ANY, '
                                          f'from: "{a}", to: "{b}") {{ startAt endAt providerIds }} }}'}

    return {"REST one provider-week": rest_spans(7), "REST 4 weeks x 1 provider": rest_spans(28),
            "REST 20 providers any (one week)": rest_group, "GraphQL one provider-week": graphql_spans(7),
            "GraphQL 4 weeks x 1 provider": graphql_spans(28), "GraphQL 20 providers any (one week)": graphql_group}


def measure(url: str, key: str, feed: str, providers: list[str], first: dt.date, requests: int = 500,
            seed: int = 5) -> Iterator[str]:
    """p50/p99 of each case over `requests` sequential requests on one keep-alive connection
    (50 more first, as warm-up), each line with the load averages."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for name, make in _cases(feed, providers, first).items():
            latencies = []
            for i in range(requests + 50):
                what, payload = make(rng)
                method, path = what.split(" ")
                t = time.perf_counter()
                answer = client.get(path, params=payload) if method == "GET" else client.post(path, json=payload)
                elapsed = time.perf_counter() - t
                if answer.status_code != 200 or "errors" in answer.json():
                    raise HaloError(f"{name}: {answer.status_code} {answer.text[:300]}")
                if i >= 50:
                    latencies.append(elapsed)
            latencies.sort()
            p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
            yield (f"{name}: p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                   f"over {len(latencies)} requests ({load()})")


@contextlib.contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[str]:
    """`halo serve` on a free port in `env`; its URL once /health answers."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([HALO, "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                        break
                if proc.poll() is not None:
                    raise HaloError(f"halo serve stopped: see {log}")
                time.sleep(0.3)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def run(providers: int, bookings: int, days: int, requests: int, drain: bool, db_url: str | None, workdir: Path | None) -> Iterator[str]:
    import warnings

    import dagster as dg

    warnings.filterwarnings("ignore", module="dagster")  # beta notices are for developers, not these figures

    from halo_platform.access.keys import create_key
    from halo_platform.availability.service import run_processing
    from halo_platform.core.store import StoreResource

    scratch = Path(workdir or tempfile.mkdtemp(prefix="halo-bench-emr-api-"))
    home = scratch / "halo"
    home.mkdir(parents=True, exist_ok=True)
    url = db_url or f"sqlite:///{home / 'bench.db'}"
    env = {**os.environ, "HALO_HOME": str(home), "HALO_DB_URL": url, "DAGSTER_HOME": str(scratch / "dagster")}
    (scratch / "dagster").mkdir(exist_ok=True)
    os.environ.update({k: env[k] for k in ("HALO_HOME", "HALO_DB_URL", "DAGSTER_HOME")})
    store = StoreResource(db_url=url)
    ids, as_of = provider_ids(providers), dt.date.today()
    events = write_batch(home / "landing" / FEED / "load.jsonl", ids, as_of, days, bookings, 1, hours=True)
    yield f"{load()} before loading"
    t = time.perf_counter()
    summary = run_processing(store, as_of, days, instance=dg.DagsterInstance.ephemeral())
    yield (f"loaded {providers:,} providers: {events:,} events -> {summary.provider_dates:,} provider-dates in "
           f"{time.perf_counter() - t:.1f}s ({load()})")
    key = create_key(store, "bench-api", ["availability:read"], rate_per_second=100_000)
    with serving(env, scratch / "serve.log") as base:
        ingest = None
        if drain:
            more = write_batch(home / "landing" / FEED / "drain.jsonl", ids, as_of, days, bookings, 2, hours=False)
            ingest = subprocess.Popen([HALO, "emr", "process", "--as-of", as_of.isoformat(), "--horizon-days", str(days)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=(scratch / "drain.log").open("w"))
            yield f"draining a concurrent ingestion of {more:,} bookings (halo emr process in another process)"
        started = time.perf_counter()
        for line in measure(base, key, FEED, ids, as_of + dt.timedelta(days=1), requests):
            running = ingest is not None and ingest.poll() is None
            yield line + (" [ingestion running]" if running else "")
        if ingest is not None:
            finished = ingest.poll() is not None
            ingest.wait()
            yield (f"the ingestion {'had finished' if finished else 'was still running'} when the measurement ended "
                   f"({time.perf_counter() - started:.1f}s), exit {ingest.returncode}")
    yield f"targets: one provider-week p99 <= 20 ms, 20 providers any p99 <= 100 ms. {load()}. Scratch: {scratch}"


@click.command(name="emr-api")
@click.option("--providers", default=5000, show_default=True, type=click.IntRange(20, 100_000))
@click.option("--bookings", default=10, show_default=True, type=click.IntRange(0, 1000), help="Bookings per provider.")
@click.option("--days", default=35, show_default=True, type=click.IntRange(28, 366), help="Horizon of the loaded spans.")
@click.option("--requests", default=500, show_default=True, type=click.IntRange(10, 100_000), help="Measured requests per case.")
@click.option("--drain/--no-drain", default=True, show_default=True, help="Measure while a second batch is ingested.")
@click.option("--db-url", default=None, help="Operational store (default: SQLite in the scratch folder).")
@click.option("--workdir", default=None, type=PathGiven(path_type=Path), help="Scratch folder (default a temp dir).")
def bench_emr_api(providers: int, bookings: int, days: int, requests: int, drain: bool, db_url: str | None, workdir: Path | None) -> None:
    """Availability REST and GraphQL p50/p99 over HTTP with N providers loaded, under a concurrent ingestion."""
    for line in run(providers, bookings, days, requests, drain, db_url, workdir):
        click.echo(line)
