"""What a report task is: a declaration (payload schema, queries, transform, outputs),
and the discovery of task modules in `halo_platform/reports/tasks/`.

A task module defines one module-level `TASK = Task(...)`. Nothing else has to be
edited: `load_tasks()` finds every module of the package (`core.plugins.discover`), and `assets.py`
turns each task into a Dagster asset + job.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

import annotated_types
import dagster as dg
import pydantic
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError, to_jsonable_python

from halo_platform.core.errors import HaloError
from halo_platform.core.models import EARLIEST_DATE, LATEST_DATE
from halo_platform.core.text import cut, echo, named_more_than_once, visible


class ReportFormat(enum.StrEnum):
    """Output file formats (a select in every form)."""

    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


FORMATS = tuple(f.value for f in ReportFormat)


@dataclass(frozen=True)
class FormType:
    """What a form shows for a field when the Python type alone does not say it (money)."""

    name: str


def _not_a_boolean(value: Any) -> Any:
    # JSON `true` is a number to Python (bool subclasses int): refused before the number parse.
    if isinstance(value, bool):
        raise ValueError("a number is expected, not a boolean")
    return value


class JsonNumber(float):
    """A JSON number with a fraction or an exponent (`json.loads`'s `parse_float`), as the float it
    reads as, keeping the text it was written as (`text`): the schema judges money, integers and the
    threshold by that text. Read as a float alone, 99999999999.999999 was the money 100000000000.00
    and 90.00000000000000001 the threshold 90, where their decimal strings are refused."""

    text: str

    def __new__(cls, text: str) -> JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


def _number(value: Any) -> Any:
    """A number, or its text in ASCII: Python's Decimal(), int() and float() also read `1_000` (a
    literal in code), other scripts' digits (`٣`, full-width `１２`) and spaces other than ASCII's,
    which the form's pattern and the warehouses do not take; refused before the number parse. A
    JSON number is the decimal it was written as (`JsonNumber`)."""
    value = _not_a_boolean(value)
    if isinstance(value, JsonNumber):
        return Decimal(value.text)
    if isinstance(value, str) and (not value.isascii() or "_" in value):
        raise PydanticCustomError("ascii_number", "Input should be a number written with the ASCII digits 0-9, got {text}",
                                  {"text": echo(value)})
    return value


def _finite(value: Any) -> Any:
    """A number (or its text) that is NaN or infinite is refused as such, before bounds are
    checked: NaN fails `le=100` too, with a reason that sends the user after the wrong fix."""
    value = _number(value)
    if isinstance(value, str | float | Decimal):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return value  # not a number at all: the float parse says so
        if not math.isfinite(number):
            raise PydanticCustomError("finite_number", "Input should be a finite number")
    return value


_ISO_DATE = re.compile(r"\d{4}-?\d{2}-?\d{2}")


def _iso_date(value: Any) -> Any:
    """Dates arrive as ISO strings (YYYY-MM-DD, or the basic YYYYMMDD); pydantic alone would
    also take a number (a Unix timestamp) or a datetime string, which nobody means here."""
    if isinstance(value, dt.datetime):
        raise ValueError("a date is expected (YYYY-MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value
    try:
        day = dt.date.fromisoformat(value) if isinstance(value, str) and _ISO_DATE.fullmatch(value) else None
    except ValueError:
        day = _no_such_day(value)
    if day is None:
        raise ValueError(f"not an ISO date (YYYY-MM-DD): {echo(value)}")
    if not EARLIEST_DATE <= day <= LATEST_DATE:  # a run steps days before and after: 0001-01-01 failed it, queued
        raise ValueError(f"a date between {EARLIEST_DATE} and {LATEST_DATE} is expected, got {echo(value)}")
    return day


def _no_such_day(text: str) -> dt.date | None:
    """For a text of the ISO form the calendar has no day of (2023-02-29, 2024-04-31): raise why,
    rather than 'not an ISO date (YYYY-MM-DD)', which sent the user after the form they wrote
    right. The year 0 is taken as the earliest day (refused by the bounds, which it is out of); a
    text whose dashes are mixed (2024-0301) is no ISO form: None."""
    if len(text) == 9:  # one dash of two
        return None
    digits = text.replace("-", "")
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    if year == 0:
        return dt.date.min
    if not 1 <= month <= 12:
        raise ValueError(f"no such date: {echo(text)} (a month is 01 to 12)")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise ValueError(f"no such date: {echo(text)} ({year:04d}-{month:02d} has {last} days)")
    return None


MONEY_WHOLE_DIGITS, MONEY_PLACES = 12, 2  # DECIMAL(14,2), as the warehouses hold amounts


def _fits_money(value: Decimal) -> Decimal:
    """Refuse an amount DECIMAL(14,2) cannot hold, saying which side of the point is too long:
    pydantic's `max_digits=14` said "no more than 14 digits in total" of 0.001 written with 15
    digits, which has too many decimals, not too many digits. Trailing zeros are no decimals (1.100).
    Finite is checked here too: pydantic's `allow_inf_nan=False` took 1e400 (past a float) for infinite."""
    if not value.is_finite():
        raise PydanticCustomError("finite_number", "Input should be a finite number")
    _, digits, exponent = value.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    places = -(exponent + len(digits) - len(significant)) if significant else 0
    whole = max(0, value.adjusted() + 1)
    problems = [f"at most {limit} {what}, got {count}" for count, limit, what in (
        (whole, MONEY_WHOLE_DIGITS, "digits before the decimal point"), (places, MONEY_PLACES, "decimal places")) if count > limit]
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _cents(value: Decimal) -> Decimal:
    # One canonical text per amount: "1e2" and "100" are both carried as "100.00", "-0" as "0.00".
    cents = value.quantize(Decimal("0.01"))
    return cents.copy_abs() if cents.is_zero() else cents


Date = Annotated[dt.date, BeforeValidator(_iso_date), FormType("date")]
"""A calendar date; ISO text on the wire."""

Money = Annotated[Decimal, BeforeValidator(_number), AfterValidator(_fits_money), AfterValidator(_cents), FormType("money")]
"""An exact amount, DECIMAL(14,2) like the warehouses: a JSON number or a decimal string on the
way in, a decimal string (e.g. "0.01") on the wire; NaN, Infinity, booleans and text other than
ASCII notation (`1_000`, `٣`) are refused."""

def _unsigned_zero(value: float) -> float:
    # "-0" passed `ge=0` and was carried as -0.0: `rearm_hours: -0.0` in the audit row and the run's payload
    return 0.0 if value == 0 else value


Integer = Annotated[int, BeforeValidator(_number)]
Number = Annotated[float, BeforeValidator(_finite), Field(allow_inf_nan=False), AfterValidator(_unsigned_zero)]


def _distinct(names: list[str]) -> list[str]:
    twice = named_more_than_once(names)
    if twice:  # a sink named twice would be sent the file twice
        raise ValueError(f"named more than once: {', '.join(map(visible, twice))}")
    return names


class TaskConfig(dg.Config):
    """Base payload of every task: the sinks to deliver to (empty: the task's default sinks).

    Fields are typed (`Date`, `Money`, `Integer`, `Number`, enums, str, bool, lists); this one
    schema generates the launchpad config (`launchpad_config`), the form description
    (`form_schema`) and validates API and CLI payloads (`Task.validate_payload`)."""

    # the published schema (GET /v1/tasks) refuses what `validate_payload` refuses: a field the task
    # does not take, a sink named twice (a client validating against it took both)
    model_config = ConfigDict(json_schema_extra={"additionalProperties": False})

    sinks: Annotated[list[str], AfterValidator(_distinct)] = Field(
        default=[], description="Sink names to deliver to, each once (empty: the task's default sinks).",
        json_schema_extra={"uniqueItems": True})


def after_field(earlier: str) -> Callable[[Any, ValidationInfo], Any]:
    """A validator refusing a value not strictly after field `earlier` (compared as values,
    so dates as dates); the error names the later field. `earlier` must be declared first."""

    def check(value: Any, info: ValidationInfo) -> Any:
        start = info.data.get(earlier)
        if value is not None and start is not None and value <= start:
            raise ValueError(f"must be after {earlier} ({start})")
        return value

    return check


# --- one schema, three shapes: the launchpad config, a form description, errors by field ---

_WIRE = {dt.date: str, Decimal: str}  # what Dagster config (and JSON) carries for each type
_UNIONS = (Union, types.UnionType)


def _wire_type(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _wire_type(get_args(annotation)[0])
    if origin in _UNIONS:
        inner = [a for a in get_args(annotation) if a is not type(None)]
        return _wire_type(inner[0]) | None
    if origin is list:
        return list[_wire_type(get_args(annotation)[0])]
    return _WIRE.get(annotation, annotation)


def _form_type(info: pydantic.fields.FieldInfo) -> tuple[str, Any]:
    """(form type name, the bare Python type) of a field."""
    marked = next((m.name for m in info.metadata if isinstance(m, FormType)), None)
    bare = info.annotation
    if get_origin(bare) in _UNIONS:
        bare = next(a for a in get_args(bare) if a is not type(None))
    bare = get_args(bare)[0] if get_origin(bare) is Annotated else bare
    if marked:
        return marked, bare
    if get_origin(bare) is list:
        return f"list[{_form_type(pydantic.fields.FieldInfo(annotation=get_args(bare)[0]))[0]}]", bare
    if isinstance(bare, type) and issubclass(bare, enum.Enum):
        return "choice", bare
    names = {bool: "boolean", int: "integer", float: "number", Decimal: "decimal", dt.date: "date", str: "string"}
    return names.get(bare, "string"), bare


def _choice_of(info: pydantic.fields.FieldInfo) -> type[enum.Enum] | None:
    kind, bare = _form_type(info)
    return bare if kind == "choice" else None


def _choices(choice: type[enum.Enum]) -> str:
    """'a', 'b' or 'c', as pydantic words a choice."""
    values = [repr(member.value) for member in choice]
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


def _bounds(info: pydantic.fields.FieldInfo) -> dict[str, Any]:
    keys = {annotated_types.Ge: ("minimum", "ge"), annotated_types.Gt: ("exclusive_minimum", "gt"),
            annotated_types.Le: ("maximum", "le"), annotated_types.Lt: ("exclusive_maximum", "lt")}
    found = {}
    for m in info.metadata:
        if type(m) in keys:
            name, attr = keys[type(m)]
            found[name] = to_jsonable_python(getattr(m, attr))
    return found


def form_schema(config: type[TaskConfig]) -> list[dict[str, Any]]:
    """Each field as a form needs it: name, type (date, money, decimal, integer, number, boolean,
    string, choice, list[...]), required, default (wire form), description, choices, bounds."""
    fields = []
    for name, info in config.model_fields.items():
        kind, bare = _form_type(info)
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        entry = {"name": name, "type": kind, "required": info.is_required(),
                 "default": to_jsonable_python(default), "description": info.description or "", **_bounds(info)}
        if kind == "choice":
            entry["choices"] = [m.value for m in bare]
        fields.append(entry)
    return fields


def launchpad_config(config: type[TaskConfig]) -> type[dg.Config]:
    """The task's Config as Dagster config types can express it: dates and money become strings
    (exact, ISO / decimal text), enums stay enums (a select), defaults and descriptions kept.
    Values read from it are validated again by `config` before the run uses them."""
    fields = {}
    for name, info in config.model_fields.items():
        kind, _ = _form_type(info)
        default = info.get_default(call_default_factory=True)
        wire_default = default if isinstance(default, enum.Enum) else to_jsonable_python(default)
        hint = {"date": " (a date: YYYY-MM-DD)", "money": ' (an amount as a decimal string, e.g. "0.01")'}.get(kind, "")
        fields[name] = (_wire_type(info.annotation), Field(default=wire_default, description=(info.description or name) + hint))
    return pydantic.create_model(f"{config.__name__}Launchpad", __base__=dg.Config, __doc__=config.__doc__, **fields)


class PayloadError(HaloError):
    """A payload that does not fit the task's schema; `detail` lists `{field, reason}`."""

    def __init__(self, task: str, detail: list[dict[str, str]], message: str | None = None) -> None:
        self.detail = detail
        why = message or "; ".join(f"{d['field']}: {d['reason']}" for d in detail)
        super().__init__(f"{task}: invalid payload: {why}")


def _reason(error: Mapping[str, Any]) -> str:
    msg = str(error.get("msg", "invalid"))
    return msg.removeprefix("Value error, ")


@dataclass(frozen=True)
class Query:
    """One parameterized query against one warehouse; its rows land in a DuckDB table
    named after the query. `params` maps the resolved payload to the `:name` values."""

    warehouse: str
    sql: str
    params: Callable[[Mapping[str, Any]], Mapping[str, Any]] = lambda payload: {}


@dataclass(frozen=True)
class TaskCheck:
    """An asset check computed from the task's result counts (`counts` from `count_by`)."""

    name: str
    description: str
    passed: Callable[[Mapping[str, int]], bool]
    severity: str = "WARN"
    alert: bool = False  # a failed WARN check alerts too (metadata `halo/alert` on the check)
    # DuckDB SQL over `result` selecting one text per row that fails the check (a campaign over budget):
    # the alert of a failed check names them, not only the check
    failing: str | None = None
    # a failed blocking check stops delivery (the request ends BLOCKED, the run fails and alerts)
    blocking: bool = False

    def __post_init__(self) -> None:
        if self.blocking and self.severity != "ERROR":
            raise ValueError(f"check {self.name}: a blocking check has severity ERROR")


@dataclass(frozen=True)
class RunContext:
    """What a run knows besides the payload: when it runs and in which timezone."""

    now: dt.datetime
    timezone: str

    @property
    def today(self) -> dt.date:
        from zoneinfo import ZoneInfo

        return self.now.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True)
class Task:
    """A report task. `transform` is DuckDB SQL over the query tables (payload values are
    available as `$name` parameters), stages of such SQL (`{table: SELECT}`, each made a table
    in turn, the last one the result: DuckDB then holds one stage's hash tables at a time and
    can spill finished stages under its memory limit), or a function
    `(duckdb connection, payload) -> relation`."""

    name: str
    description: str
    owner: str
    config: type[TaskConfig]
    queries: Mapping[str, Query]
    transform: str | Mapping[str, str] | Callable[..., Any]
    file_stem: Callable[[Mapping[str, Any]], str]  # of the payload; made a file name (`sinks.base.name_of_title`)
    default_sinks: tuple[str, ...] = ("outbox",)
    resolve: Callable[[Mapping[str, Any], RunContext], Mapping[str, Any]] = lambda payload, ctx: payload
    format_of: Callable[[Mapping[str, Any]], str] = lambda payload: payload.get("format", "csv")
    count_by: str | None = None
    # the short human text from the result's first rows (at most 1,000) and the resolved payload,
    # which also carries `row_count`: how many rows the result has
    message: Callable[[list[dict], Mapping[str, Any]], str] | None = None
    deliver_when_empty: bool = True
    # A condition alert task: the result columns naming an alert (subject, kind); with the
    # payload's `rearm_hours`, an alert sent within that many hours is not sent again.
    rearm_key: tuple[str, ...] = ()
    # DuckDB SQL over the query tables (payload values as `$name`) selecting one text per row the
    # task cannot judge (a campaign without a budget): the result still goes out, then the request
    # ends FAILED with an error naming them, rather than a green run that says nothing of them.
    unjudged: str | None = None
    checks: tuple[TaskCheck, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def validate_payload(self, payload: Mapping[str, Any]) -> TaskConfig:
        """The payload as the task's typed Config; a bad payload is one PayloadError naming the field."""
        if not isinstance(payload, Mapping):
            raise PayloadError(self.name, [{"field": "payload", "reason": "must be a JSON object"}])
        unknown = sorted(set(payload) - set(self.config.model_fields))
        if unknown:
            raise PayloadError(self.name, [{"field": name, "reason": "unknown field"} for name in unknown],
                               # a control character written out: a CLI line shows it as a blank ('as_of\x00' read 'as_of ')
                               f"unknown field(s) {cut(', '.join(map(visible, unknown)))}; known: {', '.join(self.config.model_fields)}")
        not_a_choice = [{"field": name, "reason": f"Input should be {_choices(choice)}"} for name, value in payload.items()
                        if (choice := _choice_of(self.config.model_fields[name])) and not isinstance(value, str)]
        if not_a_choice:  # Dagster's Config looks a choice up by its hash: a list or an object was a TypeError
            raise PayloadError(self.name, not_a_choice)
        try:
            return self.config(**payload)
        except pydantic.ValidationError as exc:
            detail = [{"field": ".".join(map(str, e["loc"])) or "payload", "reason": _reason(e)} for e in exc.errors()]
            raise PayloadError(self.name, detail) from None

    def check_payload(self, payload: Mapping[str, Any], ctx: RunContext) -> TaskConfig:
        """`validate_payload`, then the task's `resolve` as a run at `ctx` resolves it (defaults
        filled): what the run would refuse (a period empty once one end defaults) is a PayloadError
        now. Requests and schedule edits check a payload with this, so both refuse what a run would."""
        config = self.validate_payload(payload)
        self.resolve(config.model_dump(), ctx)
        return config

    def wire_payload(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The validated payload in its JSON / Dagster-config form (dates ISO text, money decimal
        text, enums their value), with only the fields given: defaults stay the run's to resolve."""
        return self.validate_payload(payload).model_dump(mode="json", exclude_unset=True)

    def form_schema(self) -> list[dict[str, Any]]:
        return form_schema(self.config)


TASK_PACKAGE = "halo_platform.reports.tasks"


def load_tasks() -> dict[str, Task]:
    """Every `Task` declared by a module of `halo_platform.reports.tasks`, by name."""
    from halo_platform.core.plugins import discover, instances_of

    return discover(TASK_PACKAGE, instances_of(Task), key=lambda t: t.name)


def get_task(name: str) -> Task:
    from halo_platform.core.errors import NotFoundError

    tasks = load_tasks()
    if name not in tasks:  # cut: a name of the URL's length came back whole
        raise NotFoundError(f"unknown task {echo(name)}; known: {', '.join(sorted(tasks))}")
    return tasks[name]


__all__ = ["FORMATS", "Date", "Field", "FormType", "Integer", "JsonNumber", "Money", "Number", "PayloadError", "Query", "ReportFormat",
           "RunContext", "Task", "TaskCheck", "TaskConfig", "after_field", "field_validator",
           "form_schema", "get_task", "launchpad_config", "load_tasks"]
