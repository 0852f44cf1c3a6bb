"""`halo emr ...` (ingest, process, export, spans, slots, quarantine) and `halo bench emr`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from halo_platform.core.cli_options import GIVEN, PathGiven
from halo_platform.core.text import visible


def _store():  # noqa: ANN202
    """The store this domain's definitions bind."""
    from halo_platform.availability.definitions import defs

    return defs.resources["store"]


@click.group()
def emr() -> None:
    """EMR scheduling feeds: land files, process them, query available spans."""


@emr.command()
@click.option("--feed", "feed_name", required=True, help="Feed name from config/emr_feeds.yaml.")
@click.argument("files", nargs=-1, required=True, type=PathGiven(path_type=Path))
def ingest(feed_name: str, files: tuple[Path, ...]) -> None:
    """Copy FILES into the feed's landing zone atomically ($HALO_HOME/landing/<feed>/ or its S3
    prefix); none is landed unless the feed takes every one."""
    from halo_platform.availability.feeds import get_feed
    from halo_platform.availability.landing import check_landable
    from halo_platform.availability.landing import ingest as land

    feed = get_feed(feed_name)
    for file in files:
        check_landable(feed, file)
    for file in files:
        click.echo(f"landed {visible(str(land(feed, file)))}")  # a name from outside: no raw control characters


@emr.command()
@click.option("--as-of", default=None, type=GIVEN, help="First local date of the horizon (YYYY-MM-DD, default today).")
@click.option("--horizon-days", default=60, show_default=True, type=int)
def process(as_of: str | None, horizon_days: int) -> None:
    """Process everything landed and not yet processed through the Dagster assets, in-process."""
    from halo_platform.availability.service import parse_date, run_processing

    summary = run_processing(_store(), parse_date(as_of, "--as-of"), horizon_days, log_level="CRITICAL")
    click.echo(f"files: {summary.files}")
    click.echo(f"events: {summary.events}")
    click.echo(f"quarantined: {summary.quarantined}")
    click.echo(f"items changed: {summary.items_changed}")
    click.echo(f"provider-dates recomputed: {summary.provider_dates}")


@emr.command()
@click.option("--out", required=True, type=PathGiven(path_type=Path), help="CSV file to write (/dev/stdout: standard output).")
def export(out: Path) -> None:
    """Write every span to a CSV sorted by feed, provider_id, span_date, start_at, end_at."""
    from halo_platform.availability.service import export_csv

    if str(out) == "-":  # no `halo` option reads `-` as standard output: the CSV went to a file named `-`
        raise click.BadParameter("'-' is not standard output here: give a file, or /dev/stdout", param_hint="'--out'")
    written = export_csv(_store(), out)
    # written into a pipe or a terminal (`--out /dev/stdout | ...`), this line on stdout became the CSV's last row
    click.echo(f"wrote {written} spans to {out}", err=not out.is_file())


@emr.command()
@click.option("--feed", required=True)
@click.option("--provider", required=True)
@click.option("--from", "first", default=None, type=GIVEN, help="First local date (YYYY-MM-DD).")
@click.option("--to", "last", default=None, type=GIVEN, help="Last local date (YYYY-MM-DD), inclusive.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def spans(feed: str, provider: str, first: str | None, last: str | None, fmt: str) -> None:
    """Show a provider's available spans."""
    from halo_platform.availability.service import parse_date, provider_key
    from halo_platform.availability.service import spans as query

    found = query(_store(), feed, provider_key(provider, "--provider"), parse_date(first, "--from"), parse_date(last, "--to"))
    if fmt == "json":
        click.echo(json.dumps([s.as_json() for s in found], indent=2))
        return
    click.echo(f"{'span_date':<12}{'start_at':<22}{'end_at':<22}")
    for s in found:
        row = s.as_json()
        click.echo(f"{row['span_date']:<12}{row['start_at']:<22}{row['end_at']:<22}")
    click.echo(f"{len(found)} spans")


@emr.command()
@click.option("--feed", required=True)
@click.option("--provider", required=True)
@click.option("--type", "slot_type", default=None, type=GIVEN, help="Appointment type of the feed's slot_rules (default: default).")
@click.option("--from", "first", default=None, type=GIVEN, help="First local date (YYYY-MM-DD, default the provider's today).")
@click.option("--to", "last", default=None, type=GIVEN, help="Last local date (YYYY-MM-DD), inclusive (default 6 days after --from).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def slots(feed: str, provider: str, slot_type: str | None, first: str | None, last: str | None, fmt: str) -> None:
    """Show a provider's bookable slots of one appointment type under the feed's slot rules."""
    from halo_platform.availability.service import bookable_slots, parse_date, provider_key

    found = bookable_slots(_store(), feed, provider_key(provider, "--provider"), slot_type, parse_date(first, "--from"),
                           parse_date(last, "--to")).as_json()
    if fmt == "json":
        click.echo(json.dumps(found, indent=2))
        return
    click.echo(f"type {found['type']}: " + ", ".join(f"{k} {v}" for k, v in found["rules"].items()))
    click.echo(f"{'start_at':<22}{'end_at':<22}")
    for slot in found["slots"]:
        click.echo(f"{slot['start_at']:<22}{slot['end_at']:<22}")
    click.echo(f"{len(found['slots'])} slots")


@emr.command()
@click.option("--feed", default=None, type=GIVEN, help="Only this feed.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def quarantine(feed: str | None, limit: int, fmt: str) -> None:
    """List quarantined records (feed, file, position, reason, raw text; phone numbers and addresses masked).
    A record of a file's content replaced since (the file landed again, corrected) is marked superseded."""
    from halo_platform.availability.service import quarantined, shown_record

    rows = [{k: v for k, v in shown_record(r).items() if k != "id"} for r in quarantined(_store(), feed, limit)]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:  # a record is the feed's text: its control characters are shown, never sent to the terminal
        mark = " (superseded)" if r["superseded"] else ""
        click.echo(f"{r['feed']}\t{visible(r['file'])}:{r['position']}{mark}\t{visible(r['reason'])}\t{visible(r['raw'][:120])}")
    click.echo(f"{len(rows)} quarantined records")


COMMANDS = (emr,)
