"""What a report task is: a declaration (payload schema, queries, transform, outputs),
and the discovery of task modules in `halo_platform/reports/tasks/`.

A task module defines one module-level `TASK = Task(...)`. Nothing else has to be
edited: `load_tasks()` finds every module of the package (pkgutil), and the factory
turns each task into a Dagster asset + job.
"""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from pydantic import field_validator

from halo_platform.core.errors import HaloError

FORMATS = ("csv", "xlsx", "parquet")


class TaskConfig(dg.Config):
    """Base payload of every task: the sinks to deliver to (empty: the task's default sinks)."""

    sinks: list[str] = []


def check_date(value: str | None) -> str | None:
    """Validator for ISO date strings (`dg.Config` has no date type)."""
    if value is not None:
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO date (YYYY-MM-DD): {value!r}") from None
    return value


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return value


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
    available as `$name` parameters) or a function `(duckdb connection, payload) -> relation`."""

    name: str
    description: str
    owner: str
    config: type[TaskConfig]
    queries: Mapping[str, Query]
    transform: str | Callable[..., Any]
    file_stem: Callable[[Mapping[str, Any]], str]
    default_sinks: tuple[str, ...] = ("outbox",)
    resolve: Callable[[Mapping[str, Any], RunContext], Mapping[str, Any]] = lambda payload, ctx: payload
    format_of: Callable[[Mapping[str, Any]], str] = lambda payload: payload.get("format", "csv")
    count_by: str | None = None
    message: Callable[[list[dict], Mapping[str, Any]], str] | None = None
    deliver_when_empty: bool = True
    checks: tuple[TaskCheck, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)

    def validate_payload(self, payload: Mapping[str, Any]) -> TaskConfig:
        """The payload as the task's Config; a bad payload is one clear HaloError."""
        if not isinstance(payload, Mapping):
            raise HaloError(f"{self.name}: payload must be a JSON object")
        unknown = sorted(set(payload) - set(self.config.model_fields))
        if unknown:
            raise HaloError(f"{self.name}: invalid payload: unknown field(s) {', '.join(unknown)};"
                            f" known: {', '.join(self.config.model_fields)}")
        try:
            return self.config(**payload)
        except Exception as exc:  # pydantic.ValidationError or a Dagster config error
            errors = exc.errors() if hasattr(exc, "errors") else []
            why = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in errors) or str(exc)
            raise HaloError(f"{self.name}: invalid payload: {why}") from None


TASK_PACKAGE = "halo_platform.reports.tasks"


def load_tasks() -> dict[str, Task]:
    """Every `TASK` declared by a module of `halo_platform.reports.tasks`, by name."""
    package = importlib.import_module(TASK_PACKAGE)
    tasks: dict[str, Task] = {}
    for mod in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{TASK_PACKAGE}.{mod.name}")
        task = getattr(module, "TASK", None)
        if isinstance(task, Task):
            if task.name in tasks:
                raise HaloError(f"task {task.name!r} is declared twice")
            tasks[task.name] = task
    return tasks


def get_task(name: str) -> Task:
    from halo_platform.core.errors import NotFoundError

    tasks = load_tasks()
    if name not in tasks:
        raise NotFoundError(f"unknown task {name!r}; known: {', '.join(sorted(tasks))}")
    return tasks[name]


__all__ = ["FORMATS", "Query", "RunContext", "Task", "TaskCheck", "TaskConfig", "check_date", "check_format",
           "field_validator", "get_task", "load_tasks"]
