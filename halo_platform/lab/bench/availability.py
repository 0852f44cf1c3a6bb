"""`halo bench emr`: landed files -> current spans for N mixed events (hl7, fhir, acme) over
~5,000 providers and a 60-day horizon, through the same Dagster assets and instance (SQLite, on
disk) as `halo emr process`;
beside it the naive baseline (each event applied alone, then its provider-days recomputed
from the stored items, in plain Python) on a sample, and REST p99 for one provider-week."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import click

from halo_platform.core.cli_options import PathGiven
from halo_platform.core.errors import HaloError

FEEDS = ("hl7", "fhir", "acme")
TZS = ("Europe/Paris", "America/New_York", "Asia/Jakarta", "America/Chicago", "Europe/London")
_FIXED = {"Europe/Paris": 1, "America/New_York": -5, "Asia/Jakarta": 7, "America/Chicago": -6, "Europe/London": 0}
FILES_PER_FEED = 4


class Generator:
    """Deterministic synthetic feeds: weekly templates for every provider, then bookings,
    reschedules, cancellations, deletes and time off spread over the horizon."""

    def __init__(self, providers: int, as_of: dt.date, days: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.as_of, self.days = as_of, days
        self.providers = {f: [f"{f.upper()}{i:05d}" for i in range(providers // 3 + (1 if k < providers % 3 else 0))]
                          for k, f in enumerate(FEEDS)}
        self.tz = {p: TZS[i % len(TZS)] for f in FEEDS for i, p in enumerate(self.providers[f])}
        self.booked: dict[str, list[str]] = {f: [] for f in FEEDS}
        self.counter = 0

    def _slot(self) -> tuple[dt.datetime, int]:
        day = self.as_of + dt.timedelta(days=self.rng.randrange(self.days))
        start = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(minutes=30 * self.rng.randrange(19))
        return start, self.rng.choice((15, 30, 30, 60))

    def _version(self) -> dt.datetime:
        self.counter += 1
        return dt.datetime(2026, 11, 1) + dt.timedelta(seconds=self.counter)

    def _action(self, feed: str) -> tuple[str, str]:
        r = self.rng.random()
        ids = self.booked[feed]
        if ids and r < 0.10:
            return "reschedule", self.rng.choice(ids)
        if ids and r < 0.15:
            return "cancel", self.rng.choice(ids)
        if ids and r < 0.18:
            return "delete", self.rng.choice(ids)
        if r < 0.20:
            return "timeoff", f"T{self.counter}"
        item = f"A{self.counter}"
        ids.append(item)
        return "book", item

    def hours(self, feed: str) -> list[str]:
        out = []
        for i, p in enumerate(self.providers[feed]):
            tz = self.tz[p]
            week = {d: [("08:00", "12:00"), ("13:00", "18:00")] for d in ("mon", "tue", "wed", "thu", "fri")}
            if i % 10 == 0:
                week["sat"] = [("22:00", "06:00")]  # an overnight shift
            version = "2026-10-01T00:00:00Z"
            if feed == "hl7":
                out.extend(f"{p},{tz},{d},{s},{e},{version}" for d, iv in week.items() for s, e in iv)
            elif feed == "fhir":
                out.append('{{"resourceType":"PractitionerRole","id":"R{}","meta":{{"lastUpdated":"{}"}},"extension":[{{"url":'
                           '"http://hl7.org/fhir/StructureDefinition/timezone","valueCode":"{}"}}],"practitioner":{{"reference":'
                           '"Practitioner/{}"}},"availableTime":[{}]}}'.format(p, version, tz, p, ",".join(
                               f'{{"daysOfWeek":["{d}"],"availableStartTime":"{s}:00","availableEndTime":"{e}:00"}}'
                               for d, iv in week.items() for s, e in iv)))
            else:
                out.append('{{"type":"hours","provider":"{}","tz":"{}","week":{{{}}},"updated_at":"{}"}}'.format(
                    p, tz, ",".join('"{}":[{}]'.format(d, ",".join(f'["{s}","{e}"]' for s, e in iv)) for d, iv in week.items()), version))
        return out

    def event(self, feed: str) -> str:
        action, item = self._action(feed)
        provider = self.rng.choice(self.providers[feed])
        start, minutes = self._slot()
        end = start + dt.timedelta(minutes=minutes)
        version = self._version()
        if feed == "hl7":
            trigger = {"book": "S12", "reschedule": "S13", "cancel": "S15", "delete": "S17", "timeoff": "S23"}[action]
            return (f"MSH|^~\\&|EMR|C|HALO|H|{version:%Y%m%d%H%M%S}||SIU^{trigger}|{self.counter}|P|2.5\r"
                    f"SCH|{item}|{item}^EMR\rTQ1|1||||||{start:%Y%m%d%H%M}|{end:%Y%m%d%H%M}\rAIP|1||{provider}")
        if feed == "fhir":
            off = dt.timedelta(hours=_FIXED[self.tz[provider]])
            if action == "timeoff":
                return (f'{{"resourceType":"Slot","id":"{item}","meta":{{"lastUpdated":"{version.isoformat()}Z"}},"schedule":{{"reference":"Schedule/{provider}"}},'
                        f'"status":"busy-unavailable","start":"{(start - off).isoformat()}Z","end":"{(end - off).isoformat()}Z"}}')
            status = {"book": "booked", "reschedule": "booked", "cancel": "cancelled", "delete": "entered-in-error"}[action]
            return (f'{{"resourceType":"Appointment","id":"{item}","meta":{{"lastUpdated":"{version.isoformat()}Z"}},"status":"{status}","start":"{(start - off).isoformat()}Z","end":"{(end - off).isoformat()}Z",'
                    f'"participant":[{{"actor":{{"reference":"Practitioner/{provider}"}}}}]}}')
        if action == "delete":
            return f'{{"type":"appointment","action":"delete","id":"{item}","updated_at":"{version.isoformat()}Z"}}'
        if action == "timeoff":
            return (f'{{"type":"vacation","action":"upsert","id":"{item}","provider":"{provider}","from_date":"{start.date()}","to_date":"{start.date()}","updated_at":"{version.isoformat()}Z"}}')
        status = "cancelled" if action == "cancel" else "booked"
        return (f'{{"type":"appointment","action":"upsert","id":"{item}","provider":"{provider}","start":"{start.isoformat()}",'
                f'"duration_min":{minutes},"tz":"{self.tz[provider]}","status":"{status}","updated_at":"{version.isoformat()}Z"}}')

    def schedules(self) -> list[str]:
        return [f'{{"resourceType":"Schedule","id":"{p}","meta":{{"lastUpdated":"2026-10-01T00:00:00Z"}},"actor":[{{"reference":'
                f'"Practitioner/{p}"}}]}}' for p in self.providers["fhir"]]


def write_feeds(gen: Generator, landing: Path, events: int) -> dict[str, int]:
    """Land the templates/roles and `events` mixed events; returns events per feed."""
    counts = {}
    for k, feed in enumerate(FEEDS):
        folder = landing / feed
        folder.mkdir(parents=True, exist_ok=True)
        n = events // 3 + (1 if k < events % 3 else 0)
        base = gen.hours(feed)
        extra = gen.schedules() if feed == "fhir" else []
        if feed == "hl7":  # a template row is an event, as a role or an hours line is
            (folder / "templates.csv").write_text("provider_id,timezone,weekday,start,end,version\n" + "\n".join(base) + "\n")
        else:
            (folder / "hours.ndjson" if feed == "fhir" else folder / "hours.jsonl").write_text("\n".join(base + extra) + "\n")
        n -= len(base) + len(extra)
        per_file = n // FILES_PER_FEED
        for i in range(FILES_PER_FEED):
            count = per_file if i < FILES_PER_FEED - 1 else n - per_file * (FILES_PER_FEED - 1)
            lines = [gen.event(feed) for _ in range(count)]
            if feed == "hl7":
                (folder / f"batch{i}.hl7").write_text("".join(f"\x0b{m}\x1c\r" for m in lines))
            else:
                (folder / f"batch{i}.{'ndjson' if feed == 'fhir' else 'jsonl'}").write_text("\n".join(lines) + "\n")
        counts[feed] = events // 3 + (1 if k < events % 3 else 0)
    return counts


@contextlib.contextmanager
def timed_steps(storage: type) -> Iterator[dict[str, float]]:
    """Seconds spent in the pipeline's public steps while the block runs (the assets and checks call
    them through their modules, so wrapping the modules' functions times them from here), and in
    `storage`, the class the run's instance writes its events with."""
    from halo_platform.availability import checks, pipeline, service

    steps = {"parse + upsert (ingest_feeds)": [(pipeline, "ingest_feeds")],
             "  of which upsert (apply_batch)": [(pipeline, "apply_batch")],
             "spans (recompute_spans)": [(pipeline, "recompute_spans")],
             "next slots (refresh_next_slots)": [(service, "refresh_next_slots")],
             "asset checks on spans": [(checks, "overlapping_spans"), (checks, "spans_outside_hours")],
             "Dagster's event records (a materialization per partition)": [(storage, "store_event"), (storage, "store_event_batch")]}
    spent = dict.fromkeys(steps, 0.0)
    originals = [(module, name, getattr(module, name)) for targets in steps.values() for module, name in targets]
    inside = threading.local()  # the labels being timed in this thread

    def wrap(label: str, fn):  # noqa: ANN001, ANN202
        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            timing = getattr(inside, "labels", set())
            if label in timing:  # a batch stored event by event is timed once
                return fn(*args, **kwargs)
            inside.labels = timing | {label}
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
                inside.labels = timing
        return timed

    for label, targets in steps.items():
        for module, name in targets:
            setattr(module, name, wrap(label, getattr(module, name)))
    try:
        yield spent
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)


def raw_read(landing: Path) -> tuple[float, str]:
    """The raw limit: DuckDB alone reading every landed file of the run (the JSON feeds into typed
    columns, the HL7 files into segment lines, the templates CSV); seconds and what it read."""
    import duckdb

    started = time.perf_counter()
    db = duckdb.connect()
    try:
        fhir = db.execute(f"SELECT count(*) FROM read_json('{landing}/fhir/*.ndjson', format='newline_delimited', "  # noqa: S608 - our paths
                          "union_by_name=true) WHERE start IS NOT NULL OR id IS NOT NULL").fetchone()[0]
        acme = db.execute(f"SELECT count(*) FROM read_json('{landing}/acme/*.jsonl', format='newline_delimited', "  # noqa: S608
                          "union_by_name=true) WHERE start IS NOT NULL OR provider IS NOT NULL").fetchone()[0]
        segments = db.execute(f"SELECT count(*) FROM read_csv('{landing}/hl7/*.hl7', columns={{'line': 'VARCHAR'}}, "  # noqa: S608
                              "delim='\\x01', quote='', escape='', header=false, new_line='\\r')").fetchone()[0]
        templates = db.execute(f"SELECT count(*) FROM read_csv('{landing}/hl7/*.csv', header=true)").fetchone()[0]  # noqa: S608
    finally:
        db.close()
    seconds = time.perf_counter() - started
    size = sum(f.stat().st_size for f in landing.rglob("*") if f.is_file())
    return seconds, f"{size / 1e6:,.0f} MB: {fhir + acme:,} JSON records, {segments:,} HL7 segment lines, {templates:,} template rows"


def peak_rss_mb() -> tuple[float, float]:
    """Peak resident set size of this process and of its largest finished child (parse/span workers), MB."""
    import resource

    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(events: int, providers: int, naive_sample: int, workdir: Path | None) -> Iterator[str]:
    from halo_platform.availability.service import run_processing
    from halo_platform.core.instance import dagster_instance
    from halo_platform.core.store import StoreResource
    from halo_platform.lab.bench import naive_spans as naive

    scratch = Path(workdir or tempfile.mkdtemp(prefix="halo-bench-emr-"))
    home = scratch / "halo"
    home.mkdir(parents=True, exist_ok=True)
    # the landing zone is still found through HALO_HOME (settings); the store is passed; the run is
    # recorded in a Dagster instance on disk, as `halo emr process` records it under DAGSTER_HOME
    os.environ["HALO_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(scratch / "dagster_home")
    store = StoreResource(db_url=f"sqlite:///{home / 'bench.db'}")
    as_of, days = dt.date.today(), 60
    gen = Generator(providers, as_of, days)
    t0 = time.perf_counter()
    counts = write_feeds(gen, home / "landing", events)
    yield f"{load()} before the run"
    yield f"generated {sum(counts.values()):,} events for {providers:,} providers ({', '.join(f'{f} {n:,}' for f, n in counts.items())}) in {time.perf_counter() - t0:.1f}s"
    store.engine  # noqa: B018 - the schema is made before the clock starts, and the instance's (as under `make run`)
    with dagster_instance() as instance:
        instance.get_runs(limit=1)
        storage = type(instance.event_log_storage)
    started = time.perf_counter()
    with timed_steps(storage) as steps:
        summary = run_processing(store, as_of, days)
    ours = time.perf_counter() - started
    rate = summary.events / ours
    raw, read = raw_read(home / "landing")
    yield f"ours: {summary.files} files, {summary.events:,} events, {summary.quarantined} quarantined, {summary.items_changed:,} items changed, {summary.provider_dates:,} provider-dates in {ours:.2f}s = {rate:,.0f} events/s end to end"
    for step, seconds in steps.items():
        yield f"  {step}: {seconds:.2f}s" + (f" = {summary.events / seconds:,.0f} events/s" if seconds else "")
    rest = ours - sum(seconds for step, seconds in steps.items() if not step.startswith(" "))
    yield f"  the rest (Dagster's run and steps, planning, hashing): {rest:.2f}s"
    yield f"raw limit: DuckDB alone reads the same landed files ({read}) in {raw:.2f}s; ours = {ours / raw:.1f}x the raw read"
    yield "peak RSS: {:,.0f} MB (bench process), {:,.0f} MB (largest worker); {}".format(*peak_rss_mb(), load())
    naive_events = [(f, gen.event(f)) for f in FEEDS for _ in range(naive_sample // 3)]
    random.Random(3).shuffle(naive_events)
    per_event = naive.apply_one_by_one(store, naive_events, as_of, days)
    extrapolated = per_event * summary.events
    yield (f"naive: {len(naive_events):,} events one by one (plain Python, store loaded) at {per_event * 1000:.2f} ms/event "
           f"-> {extrapolated:,.0f}s extrapolated to {summary.events:,} events; speed-up {extrapolated / ours:,.0f}x")

    from fastapi.testclient import TestClient

    from halo_platform.access.keys import create_key
    from halo_platform.http import create_app

    client = TestClient(create_app({"store": store}))
    # a caller as a feature team would be, with a rate the bench's back-to-back requests never reach
    key = create_key(store, "bench", ["availability:read"], rate_per_second=100_000)
    client.headers["Authorization"] = f"Bearer {key}"
    rng = random.Random(5)
    all_providers = [(f, p) for f in FEEDS for p in gen.providers[f]]
    latencies = []
    for i in range(1100):
        feed, provider = rng.choice(all_providers)
        first = as_of + dt.timedelta(days=rng.randrange(days - 7))
        t = time.perf_counter()
        response = client.get("/v1/availability", params={"feed": feed, "provider_id": provider, "from": first.isoformat(),
                                                          "to": (first + dt.timedelta(days=6)).isoformat()})
        if i >= 100:  # warm-up excluded
            latencies.append(time.perf_counter() - t)
        assert response.status_code == 200
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    yield (f"REST GET /v1/availability one provider-week, {len(all_providers):,} providers loaded (in-process ASGI client): "
           f"p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms over {len(latencies)} requests")
    yield (f"targets: 1M events <= 10 s end to end and <= 10x the raw read; >= 50x naive; REST provider-week p99 <= 20 ms. "
           f"{load()}. Scratch: {scratch}")


@click.command(name="emr")
@click.option("--events", default=1_000_000, show_default=True, type=int, help="Events, mixed across hl7, fhir, acme.")
@click.option("--providers", default=5000, show_default=True, type=int)
@click.option("--naive-sample", default=3000, show_default=True, type=int, help="Events applied one by one for the baseline.")
@click.option("--workdir", default=None, type=PathGiven(path_type=Path), help="Scratch folder (default a temp dir).")
def bench_emr(events: int, providers: int, naive_sample: int, workdir: Path | None) -> None:
    """Landed files -> current spans for N events, against the naive per-event baseline; REST p99."""
    from halo_platform.lab.bench.availability import run

    if events < 1000:
        raise HaloError("--events must be at least 1000")
    for line in run(events, providers, naive_sample, workdir):
        click.echo(line)
