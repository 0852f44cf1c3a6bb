"""A sensor that starts failing alerts the `HALO_ALERTS` sinks, once (reports.md "Alerts").

Dagster records a sensor's failed tick and nothing else: a sensor whose store is unreachable, or
whose schedules or feeds file became malformed, stopped launching and recording without anyone
told. `alerted_when_failing`, applied to each sensor of the code location but the alert sensors
(alerting never recurses), sends one alert when its sensor starts failing, not one per failing tick
(they come every 5-60 s); a tick that succeeds ends the episode, and a later failure alerts again.
The sensor's own error still escapes, so Dagster shows the failed tick as before.

The sensors in an alerted episode are rows of `failing_sensors` in the operational store, the one
judge of an episode: a code-server restart, or another process evaluating the same sensor (the
daemon's code server and the webserver's, which tests a sensor), neither alerts a failure again
nor misses one; two processes failing at once insert the row once, and the one that did alerts.
A process remembers nothing of an episode but one the store could not keep (unreachable): a
failure or success in another process would make such memory wrong. A tick reads the row; only a
failure with none, or a success with one, writes (the delivery drain shares SQLite's one writer).

The alert links to the sensor's page in the code location the sensor was evaluated in (its name is
workspace.yaml's `location_name`, else the module's).
"""

from __future__ import annotations

import functools
import inspect
import logging
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
import sqlalchemy as sa

from halo_platform.alerts.send import Alert, send_alert
from halo_platform.alerts.tables import FailingSensor
from halo_platform.core.failures import describe
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_text
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource

log = logging.getLogger("halo.alerts")
failing_t = FailingSensor.__table__
F = TypeVar("F", bound=Callable[..., Any])

#: set on every function `alerted_when_failing` returns, to its sensor's name (test_definitions
#: checks every sensor but the alert sensors has it, naming itself)
MARK = "halo_alerted_sensor"
#: Dagster names a code location loaded from a module (workspace.yaml) after the module, unless
#: workspace.yaml names it (`location_name`): the link's location when the sensor's context has none
CODE_LOCATION = "halo_platform.definitions"
#: the name Dagster gives the repository of a `Definitions`; the UI leaves it out of its paths
SINGLE_REPOSITORY = "__repository__"

# (store URL, sensor) of the episodes alerted while the store could not keep them: this process
# alerts them once
_kept_here: set[tuple[str, str]] = set()


def alerted_when_failing(name: str) -> Callable[[F], F]:
    """A decorator for the function of the sensor `name`, under `@dg.sensor` and over `@masked`
    (the alert shows the masked error): the first failing tick of an episode alerts. The function
    keeps its name and parameters, so Dagster injects the same context and resources; it must take
    `context` (the alert links to the sensor in its code location) and `store`, and its `sinks` if it
    takes them are the alert's (else the code location's default)."""

    def decorate(fn: F) -> F:
        if not inspect.isfunction(fn) or inspect.isgeneratorfunction(fn) or not {
                "context", "store"} <= inspect.signature(fn).parameters.keys():
            raise TypeError(f"alerted_when_failing: {fn!r} is not a plain function taking `context` and `store`; not supported")

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:  # noqa: ANN401 - what the sensor returns
            try:
                result = fn(**kwargs)
            except Exception as exc:
                _alert_first_failure(name, exc, kwargs["context"], kwargs["store"], kwargs.get("sinks") or SinksResource())
                raise
            _end_episode(name, kwargs["store"])
            return result

        setattr(wrapper, MARK, name)
        return wrapper  # type: ignore[return-value]

    return decorate


def sensor_page(ui_url: str, name: str, context: dg.SensorEvaluationContext) -> str:
    """The Dagster UI's page of sensor `name` in the code location `context` evaluates it in."""
    origin = context.code_location_origin
    location = urllib.parse.quote(origin.location_name if origin else CODE_LOCATION, safe="")
    repository = context.repository_name or SINGLE_REPOSITORY
    return f"{ui_url}/locations/{location if repository == SINGLE_REPOSITORY else f'{repository}@{location}'}/sensors/{name}"


def sensor_failing_alert(name: str, error: BaseException, link: str) -> Alert:
    """The alert of sensor `name` starting to fail with `error` (masked when it is shown); `link`: its page."""
    return Alert(title=f"sensor failing: {name}", severity="ERROR", error=describe(error),
                 details={"sensor": name, "link": link,
                          "next": "its next failures are not alerted until one of its ticks succeeds"})


def _alert_first_failure(name: str, error: Exception, context: dg.SensorEvaluationContext, store: StoreResource,
                         sinks: SinksResource) -> None:
    """Alert the failure of sensor `name` unless its episode was alerted. Never raises: the
    sensor's own error is what its tick shows."""
    try:
        key = (store.url, name)
        if key in _kept_here:
            return
        try:
            first = _mark_failing(store, name)
        except Exception as exc:  # noqa: BLE001 - the store may be what the sensor failed on
            log.warning("sensor %s: its failure is alerted, not kept in the store (%s): a restart alerts it again",
                        name, mask_text(describe(exc)))
            _kept_here.add(key)
            first = True
        if first:
            send_alert(sensor_failing_alert(name, error, sensor_page(get_settings().dagster_ui_url, name, context)),
                       sinks, store=store)
    except Exception as exc:  # noqa: BLE001 - alerting must not recurse
        log.error("sensor %s failed and its alert was not sent: %s", name, mask_text(describe(exc)))


def _mark_failing(store: StoreResource, name: str) -> bool:
    """Record sensor `name` failing; False if it was already (alerted by another process, or before a
    restart). Two processes inserting at once: the key lets one."""
    if _in_episode(store, name):
        return False
    try:
        with store.write() as conn:
            conn.execute(failing_t.insert().values(sensor=name, since=utcnow()))
    except sa.exc.IntegrityError:
        return False
    return True


def _end_episode(name: str, store: StoreResource) -> None:
    """Sensor `name` succeeded: its next failure alerts. Writes only when its row is there."""
    _kept_here.discard((store.url, name))
    try:
        if _in_episode(store, name):
            with store.write() as conn:
                conn.execute(failing_t.delete().where(failing_t.c.sensor == name))
    except Exception as exc:  # noqa: BLE001 - the tick succeeded: tried again at the next one
        log.warning("sensor %s succeeded; its failure's end not recorded yet: %s", name, mask_text(describe(exc)))


def _in_episode(store: StoreResource, name: str) -> bool:
    """Whether sensor `name` has its row (a read: no writer waits on it)."""
    with store.read() as conn:
        return conn.execute(sa.select(failing_t.c.sensor).where(failing_t.c.sensor == name)).first() is not None
