"""Task schedules: rows of `task_schedules` (cron + timezone + payload + sinks + catch-up
policy) that a sensor turns into runs. Edits are validated here, whatever the entry point (CLI,
the `manage_task_schedule` job, the Control Center), and take effect at the next sensor tick.

Each schedule keeps the latest tick whose decision is committed (`last_tick_at`); the sensor
looks at the ticks after it, so a tick is decided once however long the sensor was stopped, and
ticks it missed are run by `catch_up`. A decision is committed with the sensor's cursor, which
Dagster stores together with the decision's run requests (`sensors.evaluate_schedules`).
Creating a schedule, enabling it, or changing its cron or timezone moves `last_tick_at` to the
edit's time: earlier ticks (of a disabled or older version) are not owed. Other edits (payload,
sinks, catch-up, an enable of an enabled schedule) leave it, so they never drop a due tick.

In the fall-back hour of a DST change, a wall-clock time that happens twice runs once, unless
the cron runs every hour (then each real hour runs).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cron_descriptor import ExpressionDescriptor, FormatError, MissingFieldError, Options, WrongArgumentError
from croniter import CroniterError, croniter

from halo_platform.core.engine import again_on_conflict, unchanged_since
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.models import utcnow
from halo_platform.core.text import check_name, echo, unstorable
from halo_platform.core.timezones import iana_zone
from halo_platform.reports.tables import TaskSchedule, TaskScheduleEdit

if TYPE_CHECKING:
    from halo_platform.core.store import StoreResource

schedules_t = TaskSchedule.__table__
edits_t = TaskScheduleEdit.__table__
#: the fields of a schedule an edit can change, as its history records them
EDITED = ("task", "cron", "timezone", "payload", "sinks", "enabled", "catch_up")
#: what the sensor does with ticks it missed (it was stopped): run none, only the latest, or all
CATCH_UP = ("none", "latest", "all")
#: a tick this recent is on time, not missed (the sensor evaluates every 30 s, later when busy)
ON_TIME = dt.timedelta(minutes=2)
#: under `all`, ticks run per schedule per evaluation (the rest at the next evaluations)
CATCH_UP_LIMIT = 100

DEFAULT_SCHEDULES = (
    {"schedule_id": "payment_reconciliation_weekly", "task": "payment_reconciliation", "cron": "0 6 * * 1",
     "timezone": "Asia/Jakarta", "payload": {}, "sinks": ["outbox"]},
    {"schedule_id": "campaign_alerts_daily", "task": "campaign_alerts", "cron": "0 7 * * *",
     "timezone": "Asia/Jakarta", "payload": {}, "sinks": ["outbox"]},
)


@dataclass(frozen=True)
class Due:
    schedule_id: str
    task: str
    tick: dt.datetime  # aware, in the schedule's timezone
    timezone: str
    payload: Mapping[str, Any]
    sinks: Sequence[str]

    @property
    def run_key(self) -> str:
        return f"{self.schedule_id}:{self.tick.astimezone(dt.UTC).isoformat()}"


@functools.lru_cache(maxsize=256)
def _every_hour(cron: str) -> bool:
    return _croniter(cron).expanded[1] == ["*"]


def repeated(cron: str, tick: dt.datetime) -> bool:
    """Whether `tick` (aware, in its schedule's timezone) is the second time its wall-clock time
    happens (the fall-back hour of a DST change) for a cron that names its hours: that time has
    run already. A cron running every hour runs both real hours, however its hour field says
    it (`*`, `*/1`, `0-23`: croniter expands each to `*`)."""
    if _every_hour(cron):
        return False
    wall = tick.replace(tzinfo=None)
    first, second = (wall.replace(tzinfo=tick.tzinfo, fold=f) for f in (0, 1))
    return first.utcoffset() != second.utcoffset() and tick.utcoffset() == second.utcoffset()


def due_ticks(cron: str, timezone: str, after: dt.datetime, until: dt.datetime, limit: int = 100) -> list[dt.datetime]:
    """Cron ticks t with after < t <= until, computed in `timezone` (DST-aware, a repeated
    wall-clock time once); pure."""
    tz = ZoneInfo(timezone)
    # compared in UTC: aware times sharing a tzinfo compare by wall clock, fold ignored
    after, until = after.astimezone(dt.UTC), until.astimezone(dt.UTC)
    it = _croniter(cron, after.astimezone(tz))
    ticks = []
    while len(ticks) < limit:
        tick = it.get_next(dt.datetime)
        if tick > until:
            break
        if tick > after and not repeated(cron, tick):
            ticks.append(tick)
    return ticks


def last_tick(cron: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The last tick at or before `now` in real time (not a repeated wall-clock time); pure.
    croniter's get_prev from a time in the repeated hour of a fall-back answers the tick before
    that wall-clock time in its first occurrence, an hour early: it is only where a forward walk
    in real time starts (at most an hour of ticks), so the repeated hour's own ticks are found."""
    now = now.astimezone(dt.UTC)
    it = _croniter(cron, now.astimezone(ZoneInfo(timezone)) + dt.timedelta(microseconds=1))
    start = it.get_prev(dt.datetime)
    while start > now or repeated(cron, start):
        start = it.get_prev(dt.datetime)
    later = due_ticks(cron, timezone, start, now, limit=10_000)
    return later[-1] if later else start


def ticks_to_run(cron: str, timezone: str, catch_up: str, after: dt.datetime,
                 now: dt.datetime) -> tuple[list[dt.datetime], dt.datetime | None]:
    """(the ticks to run, the latest tick decided) among the ticks in (after, now]; pure.
    Ticks within ON_TIME of `now` are on time and always run; the ones missed before are run
    by `catch_up`: none of them, only the latest tick, or all (CATCH_UP_LIMIT at a time)."""
    after, now = after.astimezone(dt.UTC), now.astimezone(dt.UTC)
    latest = last_tick(cron, timezone, now)
    if latest <= after:
        return [], None
    if catch_up == "all":
        ticks = due_ticks(cron, timezone, after, now, limit=CATCH_UP_LIMIT)
        return ticks, ticks[-1]
    on_time = due_ticks(cron, timezone, max(after, now - ON_TIME), now)
    if catch_up == "latest" and not on_time:
        return [latest], latest
    return on_time, latest


@dataclass(frozen=True)
class Decision:
    """The ticks of one schedule decided at one evaluation: `runs` to launch, and the schedule's
    position once they are launched (`until`); or, for a schedule whose ticks do not compute,
    nothing but the `problem`."""

    schedule_id: str
    until: dt.datetime | None
    runs: list[Due]
    problem: str = ""


def due_runs(schedules: Sequence[Mapping[str, Any]], now: dt.datetime) -> list[Decision]:
    """For every enabled schedule with ticks after its position (`last_tick_at`; a row stored
    before it was set at creation: its last edit), what to run. A schedule whose cron or
    timezone no longer computes (stored before validation refused it) is skipped (its decision
    says the problem); the others run."""
    decisions = []
    for s in schedules:
        if not s["enabled"]:
            continue
        after = dt.datetime.fromisoformat(s["last_tick_at"] or s["updated_at"])
        try:
            ticks, until = ticks_to_run(s["cron"], s["timezone"], s["catch_up"], after, now)
        except (CroniterError, ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError
            decisions.append(Decision(s["schedule_id"], None, [], f"cron {s['cron']!r} in {s['timezone']} does not compute ({exc})"))
            continue
        if until is not None:
            runs = [Due(s["schedule_id"], s["task"], tick, s["timezone"], s["payload"], s["sinks"]) for tick in ticks]
            decisions.append(Decision(s["schedule_id"], until, runs))
    return decisions


def commit_positions(store: StoreResource, positions: Mapping[str, dt.datetime]) -> None:
    """Move each schedule's `last_tick_at` forward to its committed position (never back)."""
    position = schedules_t.c.last_tick_at
    with store.write() as conn:
        for schedule_id, tick in positions.items():
            conn.execute(schedules_t.update()
                         .where(schedules_t.c.schedule_id == schedule_id, sa.or_(position.is_(None), position < tick))
                         .values(last_tick_at=tick))


def cron_in_words(cron: str, timezone: str) -> str:
    """"every Monday at 06:00, Asia/Jakarta": how the pages say a schedule (24-hour clock)."""
    return f"{_cron_words(cron)}, {timezone}"


@functools.lru_cache(maxsize=1024)  # the Schedules page says every schedule: cron_descriptor reads its locale file anew each time
def _cron_words(cron: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    fields = canonical_cron(cron).split()
    if len(fields) == len(_FIELDS):  # "*" on any day of the month; else both fields count (cron's OR)
        fields[4] = _weekdays_in_words(fields[4], "*" if fields[2] == "*" else "0-6")
    # "*/45" fires at :00 and :45, which "every 45 minutes" is not; "*/5" months run in January, June and November,
    # then January two months on; "*/3" weekdays on Sunday, Wednesday and Saturday, then Sunday the next day; "*/2"
    # days on the 31st, then the 1st: say them. A step over the whole field written as a range (`0-59/45`, `1-7/3`) too.
    for i, count in ((0, 60), (1, 24), (2, 31), (3, 12), (4, 7)):
        if i < len(fields) and (values := _uneven_step(fields[i], count, *_FIELDS[i][1:])):
            fields[i] = values
    try:
        descriptor = ExpressionDescriptor(" ".join(fields), options)
        words = descriptor.get_description()
    except (FormatError, MissingFieldError, WrongArgumentError) as exc:
        raise HaloError(f"invalid cron expression {echo(cron)}: {exc}") from None
    # once a day at one time, on every day or on some weekdays: said as access.md says it ("every Monday at
    # 06:00"; cron_descriptor's "At 06:00, only on Monday"); any other shape in cron_descriptor's words
    if len(fields) == len(_FIELDS) and fields[2:4] == ["*", "*"] and "/" not in fields[4] \
            and fields[0].isdigit() and int(fields[0]) < 60 and fields[1].isdigit() and int(fields[1]) < 24:
        days = descriptor.get_day_of_week_description().removeprefix(", ").removeprefix("only on ")
        return f"every {days or 'day'} at {int(fields[1]):02d}:{int(fields[0]):02d}"
    return words


def _uneven_step(text: str, count: int, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """The values of a field that is one step over its whole cycle of `count` values (`*/45`, `0-59/45`,
    weekdays `1-7/3`) when the step does not divide the cycle (its last value is not one step from the
    next cycle's first), listed (weekdays 0 to 6); else None. A month's days count 31: a shorter month
    ends its steps otherwise."""
    match = _TERM.fullmatch(text)
    if match is None or match.group(4) is None:
        return None
    first, last, step = match.group(2, 3, 4)
    start = low if first is None else _value(first, low, high, names)
    end = (low + count - 1) if first is None else None if last is None else _value(last, low, high, names)
    if start is None or end is None or end - start + 1 < count or not 0 < int(step) < count or count % int(step) == 0:
        return None
    return ",".join(map(str, sorted({low + (v - low) % count for v in range(start, end + 1, int(step))})))


def _weekdays_in_words(text: str, every: str) -> str:
    """The weekday field as cron_descriptor should read it: 0 and 7 are both Sunday, so `0-7` (every
    day) was 'Sunday through Sunday' and `0,7` 'Sunday and Sunday'. Every day is `every`; a field
    naming Sunday twice lists its days once. Beside days of the month (`every` is not `*`), its days
    are listed, which cron_descriptor says "or on ...": a range or step was said as if both had to match."""
    days, twice = [], False
    for term in text.split(","):
        match = _TERM.fullmatch(term)
        if match is None:
            return text  # not a cron field: cron_descriptor says why
        first, last, step = match.group(2, 3, 4)
        start = 0 if first is None else _value(first, *_FIELDS[4][1:])
        end = 6 if first is None else start if last is None else _value(last, *_FIELDS[4][1:])
        if start is None or end is None:
            return text
        twice |= start != end and start % 7 == end % 7
        days += [day % 7 for day in range(start, end + 1, int(step or 1))]
    if len(set(days)) == 7:  # `*` alone is no weekday rule (the days of the month alone count): said as nothing
        return "*" if text == "*" else every
    if every != "*":  # the days of the month count too, and a day matching either runs: a list is said "or on ..."
        return ",".join(map(str, sorted(set(days))))
    return ",".join(map(str, sorted(set(days)))) if twice or len(set(days)) < len(days) else text


def next_runs(cron: str, timezone: str, count: int = 5, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next `count` ticks after `after` (now), aware in `timezone`, as the sensor runs them (a
    repeated wall-clock time once); a bad cron or timezone
    raises HaloError with the message the edit form shows beside the field."""
    check_cron(cron)
    tz = check_timezone(timezone)
    it = _croniter(cron, (after or utcnow()).astimezone(tz))
    runs: list[dt.datetime] = []
    while len(runs) < count:  # a repeated wall-clock time (DST fall-back) runs once, as `due_ticks` decides
        tick = it.get_next(dt.datetime)
        if not repeated(cron, tick):
            runs.append(tick)
    return runs


# The five standard fields: (lowest, highest, names). croniter also takes its own extensions (R:
# a random time at each evaluation, so a new tick and run key every pass; L, W, #, ?) and ranges
# and steps no cron means (1-0 fired daily, */90 hourly): what is not standard is refused.
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day", 1, 31, ()),
           ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
           ("weekday", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_TERM = re.compile(r"(\*|(\w+)(?:-(\w+))?)(?:/(\d+))?", re.ASCII)


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    number = names.index(token.lower()) + low if token.lower() in names else int(token) if token.isascii() and token.isdigit() else None
    return number if number is not None and low <= number <= high else None


def _field_problem(text: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    """Why `text` is no standard cron field of values `low` to `high` (or `names`), said of the
    term at fault; None for a standard field."""
    def value(token: str) -> int | None:
        return _value(token, low, high, names)

    for term in text.split(","):
        match = _TERM.fullmatch(term)
        if not match:
            return f"{echo(term)} is not a value, a range or a step"
        star, first, last, step = match.group(1) == "*", match.group(2), match.group(3), match.group(4)
        for token in () if star else (first,) if last is None else (first, last):
            if value(token) is None:
                return f"{echo(token)} is not a value from {low} to {high}" + (f" or a name ({names[0]}...)" if names else "")
        if last is not None and value(last) < value(first):
            return f"{echo(term)} runs backwards (a range goes from the lower value to the higher)"
        if step is not None and not 1 <= int(step) <= high - low:
            return f"{echo(term)}: a step is 1 to {high - low}"
        if step is not None and not star and last is None:  # 0/15 in Quartz; standard cron has */15 from 0
            return f"{echo(term)}: a step goes after * or a range, as in */{step} or {first}-{high}/{step}"
    return None


@functools.lru_cache(maxsize=1024)  # every croniter of a cron is made from it: a page or a sensor pass makes several a schedule
def canonical_cron(cron: str) -> str:
    """`cron` as it is stored, computed and described: its fields one space apart, numbers with no
    leading zero (cron_descriptor took `07` for no weekday), and a range of one value (`3-3`,
    `mon-1`, `5-5/2`) written as that value, which croniter reads as `*` (`0 3-3 * * *` ran hourly)."""
    fields = cron.split()

    def number(token: str) -> str:
        return str(int(token)) if token.isascii() and token.isdigit() else token

    def term(text: str, low: int, high: int, names: tuple[str, ...]) -> str:
        match = _TERM.fullmatch(text)
        if match is None:
            return text
        first, last, step = match.group(2, 3, 4)
        if match.group(1) == "*":
            body = "*"
        elif last is not None and (single := _value(first, low, high, names)) is not None \
                and single == _value(last, low, high, names):
            return number(first)
        else:
            body = number(first) if last is None else f"{number(first)}-{number(last)}"
        return body if step is None else f"{body}/{number(step)}"

    if len(fields) == len(_FIELDS):
        fields = [",".join(term(text, low, high, names) for text in field.split(","))
                  for field, (_, low, high, names) in zip(fields, _FIELDS, strict=True)]
    return " ".join(fields)


def _croniter(cron: str, start: dt.datetime | None = None) -> croniter:
    return croniter(canonical_cron(cron), start)


CRON_LENGTH = schedules_t.c.cron.type.length  # the column's: PostgreSQL and MariaDB refuse more, SQLite stores it


@functools.lru_cache(maxsize=1024)  # a cron that passed passes again (a refusal raises, so it is not kept)
def check_cron(cron: str) -> None:
    fields = cron.split()
    if len(fields) != len(_FIELDS):
        raise HaloError(f"invalid cron expression {echo(cron)} (5 fields: minute hour day month weekday)")
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        if problem := _field_problem(text, low, high, names):
            raise HaloError(f"invalid cron expression {echo(cron)}: {name} {problem}")
    if not croniter.is_valid(cron):
        raise HaloError(f"invalid cron expression {echo(cron)}")
    if len(canonical_cron(cron)) > CRON_LENGTH:  # as stored
        raise HaloError(f"cron expression {echo(cron)}: at most {CRON_LENGTH} characters (write a long list as ranges or steps)")
    try:
        _croniter(cron, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterError:  # e.g. 0 6 31 4 *: April has no 31st
        raise HaloError(f"cron expression {echo(cron)} never fires (no such date)") from None


def check_catch_up(catch_up: str) -> None:
    if catch_up not in CATCH_UP:
        raise HaloError(f"invalid catch_up {echo(catch_up)}: one of {', '.join(CATCH_UP)}")


def check_timezone(timezone: str) -> ZoneInfo:
    """The IANA zone named `timezone`; anything else (`localtime`, a path, 300 characters) is refused."""
    zone = iana_zone(timezone)
    if zone is None:
        shown = timezone if len(timezone) <= 64 else timezone[:64] + "…"
        raise HaloError(f"unknown timezone {shown!r} (an IANA name such as Asia/Jakarta)")
    return zone


def object_payload(payload: Any) -> Mapping[str, Any]:  # noqa: ANN401 - a stored row's JSON
    """A schedule's payload, which is a JSON object: a row written by hand may hold another JSON
    value (`null`, a list), which failed every sensor evaluation and answered the schedule's page 500."""
    if not isinstance(payload, Mapping):
        raise HaloError(f"payload: must be a JSON object, got {'null' if payload is None else type(payload).__name__}")
    return payload


def validate_schedule(task: str, cron: str, timezone: str, payload: Mapping[str, Any], sinks: Sequence[str]) -> dict[str, Any]:
    """Refuse a bad cron, timezone, payload or sink name; answer the payload in its wire form (money
    "10.50", a date 2024-01-05, the fields given only), what the schedule stores and its runs read.
    The payload is checked as the schedule's next run will resolve it (`Task.check_payload` at its
    next tick, in its timezone): a period that is empty once one end defaults is a PayloadError
    naming the field, not a failed run."""
    from halo_platform.reports.task import RunContext, get_task  # Dagster's Config: imported on use (`halo --help`)
    from halo_platform.sinks import SinksResource

    definition = get_task(task)
    check_cron(cron)
    check_timezone(timezone)
    if "sinks" in object_payload(payload):  # the run would take the schedule's sinks; a second list in the payload misleads
        raise HaloError("payload: sinks are the schedule's own field (--sink, the form's Sinks), not part of the payload")
    # the schedule's own field, checked as sinks before the payload they are run with (a name
    # given twice was refused as an invalid payload)
    SinksResource().validate_names(list(sinks))
    next_tick = next_runs(cron, timezone, count=1)[0]
    config = definition.check_payload({**payload, "sinks": list(sinks)}, RunContext(next_tick.astimezone(dt.UTC), timezone))
    return config.model_dump(mode="json", exclude_unset=True, exclude={"sinks"})


def _row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}


def list_schedules(store: StoreResource) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [_row(r) for r in conn.execute(sa.select(schedules_t).order_by(schedules_t.c.schedule_id)).mappings()]


_SCHEDULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # a URL path segment of its Control Center page


def set_schedule(
    store: StoreResource,
    schedule_id: str,
    *,
    task: str | None = None,
    cron: str | None = None,
    timezone: str | None = None,
    payload: Mapping[str, Any] | None = None,
    sinks: Sequence[str] | None = None,
    enabled: bool | None = None,
    catch_up: str | None = None,
    updated_by: str | None = None,
    seen_edit: int | None = None,
) -> dict[str, Any]:
    """Create or change a schedule (unset fields keep their value; a new one without sinks takes its
    task's default sinks, an empty list is refused); validated as a whole, but for a disable that
    changes nothing else. A change is recorded in `task_schedule_edits` (who,
    before, after) in the same transaction, so every entry point (CLI, launchpad job, Control
    Center) leaves the same history; an edit that changes nothing writes nothing. A page's edit gives `seen_edit`, the id of the newest edit
    it showed: an edit made since is a ConflictError (`unchanged_since`), nothing saved."""
    if payload is not None and not isinstance(payload, Mapping):
        raise HaloError(f"payload: must be a JSON object, got {type(payload).__name__}")
    if updated_by is not None:
        check_name(updated_by, "updated_by")
    if sinks is not None and not sinks:  # else taken for the task's default sinks: the report went elsewhere unasked
        raise HaloError("sinks: pick at least one sink")
    if cron is not None:  # one spelling per cron: other spacing is no edit, no retiming, and keeps `list` one line
        check_cron(cron)  # as given: its canonical spelling drops the step of a one-value range (`0-0/0` was stored as `0`)
        cron = canonical_cron(cron)
    if timezone is not None:  # as the Control Center's field reads it: ' UTC' pasted into `--timezone` is UTC
        timezone = timezone.strip()

    def write() -> None:
        with store.write() as conn:
            # an id no store holds (a NUL, which PostgreSQL refuses in a query's text) is no schedule's: not looked up
            # locked until the edit commits: two edits at once (a cron here, a threshold there) each keep
            # the other's change; read unlocked, the second wrote the first one's field back on PostgreSQL
            row = None if unstorable(schedule_id) else conn.execute(
                sa.select(schedules_t).where(schedules_t.c.schedule_id == schedule_id).with_for_update()).mappings().first()
            if row is None and (task is None or cron is None):
                if all(value is None for value in (task, cron, timezone, payload, sinks, catch_up)):  # an enable or disable
                    known = conn.execute(sa.select(schedules_t.c.schedule_id).order_by(schedules_t.c.schedule_id)).scalars()
                    raise NotFoundError(f"no schedule {echo(schedule_id)}; known: {', '.join(known) or 'none'}")
                raise NotFoundError(f"no schedule {echo(schedule_id)}; a new one needs --task and --cron")
            unchanged_since(conn, edits_t, edits_t.c.schedule_id == schedule_id, seen_edit, f"schedule {schedule_id}")
            if row is None and not _SCHEDULE_ID.fullmatch(schedule_id):
                raise HaloError(f"schedule id {schedule_id[:64]!r}: 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit")
            current = dict(row) if row else {"timezone": "Asia/Jakarta", "payload": {}, "sinks": [], "enabled": True,
                                             "catch_up": "latest"}

            def given(value: Any, name: str) -> Any:  # a value given empty is validated (and refused), never ignored
                return current.get(name) if value is None else value

            new = {
                "task": given(task, "task"),
                "cron": given(cron, "cron"),
                "timezone": given(timezone, "timezone"),
                "payload": dict(payload) if payload is not None else current["payload"],
                "sinks": list(sinks) if sinks is not None else current["sinks"],
                "enabled": current["enabled"] if enabled is None else bool(enabled),
                "catch_up": given(catch_up, "catch_up"),
                "updated_by": updated_by,
                "updated_at": utcnow(),
            }
            if new["enabled"] and (row is None or not current["enabled"] or (new["cron"], new["timezone"]) != (current["cron"], current["timezone"])):
                new["last_tick_at"] = max(current.get("last_tick_at") or new["updated_at"], new["updated_at"])  # earlier ticks not owed
            if not new["sinks"]:
                from halo_platform.reports.task import get_task

                new["sinks"] = list(get_task(new["task"]).default_sinks)
            # A disable alone is taken as it is: a schedule that no longer builds a run (its task retired,
            # a cron stored before validation refused it) can be switched off; it is validated when enabled.
            # Stored as validated: a payload stored as given ("10.5") was listed and recorded so, and run as "10.50".
            if row is None or new["enabled"] or any(new[k] != current[k] for k in EDITED if k != "enabled"):
                new["payload"] = validate_schedule(new["task"], new["cron"], new["timezone"], new["payload"], new["sinks"])
                check_catch_up(new["catch_up"])
            before = {k: row[k] for k in EDITED} if row else None
            after = {k: new[k] for k in EDITED}
            if before == after:  # no edit: the schedule keeps who last changed it and when, as its history does
                return
            if row is None:
                conn.execute(schedules_t.insert().values(schedule_id=schedule_id, **new))
            else:
                conn.execute(schedules_t.update().where(schedules_t.c.schedule_id == schedule_id).values(**new))
            conn.execute(edits_t.insert().values(schedule_id=schedule_id, before=before, after=after,
                                                 changed_by=updated_by, at=new["updated_at"]))

    again_on_conflict(write)  # a schedule created meanwhile by another edit: this one edits it
    return next(s for s in list_schedules(store) if s["schedule_id"] == schedule_id)


def schedule_edits(store: StoreResource, schedule_id: str | None = None, limit: int = 50,
                   before: int | None = None) -> list[dict[str, Any]]:
    """The latest edits (of one schedule, or all; older than edit `before` when given), newest
    first, each with the fields that changed."""
    query = sa.select(edits_t).order_by(edits_t.c.id.desc()).limit(limit)
    if schedule_id is not None:
        query = query.where(edits_t.c.schedule_id == schedule_id)
    if before is not None:
        query = query.where(edits_t.c.id < before)
    with store.read() as conn:
        rows = [dict(r) for r in conn.execute(query).mappings()]
    for r in rows:
        before = r["before"] or {}
        r["changed"] = [k for k in EDITED if before.get(k) != r["after"].get(k)]
    return rows


def seed_default_schedules(store: StoreResource) -> list[str]:
    """Insert the default schedules that do not exist yet (never overwrites an edit)."""
    existing = {s["schedule_id"] for s in list_schedules(store)}
    created = []
    for default in DEFAULT_SCHEDULES:
        if default["schedule_id"] not in existing:
            fields = {k: v for k, v in default.items() if k != "schedule_id"}
            set_schedule(store, default["schedule_id"], **fields, updated_by="seed")
            created.append(default["schedule_id"])
    return created
