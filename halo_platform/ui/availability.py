"""The Control Center's Availability page: a provider's available spans as a week calendar in
the provider's local dates and times, the feed's freshness, and its quarantined records.

Every figure comes from `availability.service`, the functions behind `halo emr spans`,
`halo emr quarantine` and `GET /v1/availability`."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.availability import service
from halo_platform.availability.pipeline import local_today, today
from halo_platform.core.errors import HaloError
from halo_platform.core.http import resource
from halo_platform.core.models import EARLIEST_DATE, LATEST_DATE
from halo_platform.core.store import StoreResource
from halo_platform.core.text import yyyy_mm_dd
from halo_platform.core.timezones import iana_zone
from halo_platform.ui.app import render, row_id, signed_in, text_errors

router = APIRouter(include_in_schema=False)
RAW_CHARS = 160  # of a quarantined record: enough to recognise it
QUARANTINE_ROWS = 50  # quarantined records on a page (a feed's table keeps every one ever quarantined); older ones a link away


def _zone(name: str | None) -> dt.tzinfo:
    return iana_zone(name) or dt.UTC


def _day(week: str, errors: dict[str, str], default: dt.date) -> dt.date:
    """The day the `week` field names (`default` when empty), in the calendar; else `default`, with the error beside the field."""
    if "week" in errors or not week:
        return default
    try:
        return service.in_calendar(yyyy_mm_dd(week), "week")
    except ValueError:
        errors["week"] = "Expected a date YYYY-MM-DD."
    except HaloError as exc:  # a date the store cannot hold, whose neighbouring weeks may not even be dates
        errors["week"] = str(exc).removeprefix("week: ") + "."
    return default


def _page_data(store: StoreResource, feed: str, provider: str, week: str, quarantine_before: int | None = None) -> tuple[int, dict]:
    """(status, context): 422 with `errors` beside the field that names nothing known, or a week
    outside the calendar the store holds (EARLIEST_DATE to LATEST_DATE). Its quarantined records
    those quarantined before record `quarantine_before` (default: the newest)."""
    errors = text_errors({"feed": feed, "provider": provider, "week": week})
    feeds = service.feed_names()
    feed = feed or (feeds[0] if feeds else "")
    if feed not in feeds:
        errors.setdefault("feed", f"Unknown feed; pick one of {', '.join(feeds)}.")
    providers = service.providers_of(store, feed) if feed in feeds else []
    if not provider and providers:
        provider = providers[0]
    elif provider and feed in feeds and provider not in providers:
        errors.setdefault("provider", f"Feed {feed} has no spans for provider {provider}.")
    # the provider's timezone, when it has one: its calendar opens on the week of its own today (the
    # window's first date, today at UTC-12, was still Sunday on a Monday morning in Europe: last week)
    tz_name = service.provider_timezone(store, feed, provider) if provider and "provider" not in errors and "feed" not in errors else None
    day = _day(week, errors, local_today(_zone(tz_name)) if tz_name else today())
    monday = day - dt.timedelta(days=day.weekday())
    context: dict = {"feeds": feeds, "feed": feed, "providers": providers, "provider": provider, "week": week or monday.isoformat(),
                     "monday": monday, "days": [], "tz": None, "freshness": None, "quarantine": [], "quarantine_more": None, "errors": errors}
    if "feed" in errors:
        return 422, context
    context["freshness"] = service.freshness(store, feed)
    # the newest first: the oldest 50 ever quarantined were shown for good, today's never
    records = service.quarantined(store, feed, limit=QUARANTINE_ROWS + 1, newest=True, before=quarantine_before)
    # masked before it is cut: an address the cut goes through is none for the masks
    context["quarantine"] = [{**(shown := service.shown_record(q)), "raw": shown["raw"][:RAW_CHARS], "cut": len(shown["raw"]) > RAW_CHARS}
                             for q in records[:QUARANTINE_ROWS]]
    context["quarantine_more"] = QUARANTINE_ROWS if len(records) > QUARANTINE_ROWS else None
    # the older ones a link away (`halo emr quarantine` lists the first ever quarantined, not these)
    shown_week = {"feed": feed, **({"provider": provider} if provider else {}), **({"week": week} if week else {})}
    context["quarantine_before"] = quarantine_before
    context["quarantine_newest"] = "/ui/availability?" + urlencode(shown_week) + "#quarantine"
    if context["quarantine_more"]:
        older = {**shown_week, "quarantine_before": records[QUARANTINE_ROWS - 1]["id"]}
        context["quarantine_older"] = "/ui/availability?" + urlencode(older) + "#quarantine"
    if provider and not errors:
        zone = _zone(tz_name)
        # the calendar's last week runs past LATEST_DATE (a Tuesday): its days after it hold nothing
        found = service.spans(store, feed, provider, monday, min(monday + dt.timedelta(days=6), LATEST_DATE))
        by_day: dict[dt.date, list] = {monday + dt.timedelta(days=i): [] for i in range(7)}
        for span in found:
            by_day.setdefault(span.span_date, []).append((span.start_at.astimezone(zone), span.end_at.astimezone(zone)))
        context.update(days=sorted(by_day.items()), tz=tz_name or "UTC", span_count=len(found))
        links = {"feed": feed, "provider": provider}
        if monday > EARLIEST_DATE:  # the week before ends on the Sunday before this Monday
            context["previous"] = "/ui/availability?" + urlencode({**links, "week": (monday - dt.timedelta(days=7)).isoformat()})
        if monday + dt.timedelta(days=7) <= LATEST_DATE:
            context["next"] = "/ui/availability?" + urlencode({**links, "week": (monday + dt.timedelta(days=7)).isoformat()})
    return (422 if errors else 200), context


@router.get("/ui/availability")
async def availability_page(request: Request, feed: str = "", provider: str = "", week: str = "", quarantine_before: str = "",
                            caller: Caller = Depends(signed_in()), store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    status, context = await run_in_threadpool(_page_data, store, feed.strip(), provider.strip(), week.strip(), row_id(quarantine_before))
    return render(request, "availability.html", caller, status=status, **context)
