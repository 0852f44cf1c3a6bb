"""A sensor that starts failing alerts the `HALO_ALERTS` sinks, once (reports.md "Alerts").

Dagster records a sensor's failed tick and nothing else: a sensor whose store is unreachable, or
whose schedules or feeds file became malformed, stopped launching and recording without anyone
told. `alerted_when_failing`, applied to each sensor of the code location but the alert sensors
(alerting never recurses), sends one alert when its sensor starts failing, not one per failing tick
(they come every 5-60 s); a tick that succeeds ends the episode, and a later failure alerts again.
The sensor's own error still escapes, so Dagster shows the failed tick as before.

The sensors in an alerted episode are rows of `failing_sensors` in the operational store: a
code-server restart or another process evaluating the same sensor does not alert it again. A
succeeding tick costs no query (the delivery drain shares SQLite's one writer): the process
remembers which sensors may have a row, and deletes one only then (after a failure, and at a
sensor's first success in the process).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

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
#: Dagster names a code location loaded from a module (workspace.yaml) after the module
CODE_LOCATION = "halo_platform.definitions"

# (store URL, sensor) -> whether a `failing_sensors` row may be there; a sensor not known in this
# process may have one (a restart in the middle of an episode)
_may_have_row: dict[tuple[str, str], bool] = {}


def alerted_when_failing(name: str) -> Callable[[F], F]:
    """A decorator for the function of the sensor `name`, under `@dg.sensor` and over `@masked`
    (the alert shows the masked error): the first failing tick of an episode alerts. The function
    keeps its name and parameters, so Dagster injects the same context and resources; it must take
    `store`, and its `sinks` if it takes them are the alert's (else the code location's default)."""

    def decorate(fn: F) -> F:
        if not inspect.isfunction(fn) or inspect.isgeneratorfunction(fn) or "store" not in inspect.signature(fn).parameters:
            raise TypeError(f"alerted_when_failing: {fn!r} is not a plain function taking `store`; not supported")

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:  # noqa: ANN401 - what the sensor returns
            try:
                result = fn(**kwargs)
            except Exception as exc:
                _alert_first_failure(name, exc, kwargs["store"], kwargs.get("sinks") or SinksResource())
                raise
            _end_episode(name, kwargs["store"])
            return result

        setattr(wrapper, MARK, name)
        return wrapper  # type: ignore[return-value]

    return decorate


def sensor_failing_alert(name: str, error: BaseException, ui_url: str) -> Alert:
    """The alert of sensor `name` starting to fail with `error` (masked when it is shown)."""
    return Alert(title=f"sensor failing: {name}", severity="ERROR", error=describe(error),
                 details={"sensor": name, "link": f"{ui_url}/locations/{CODE_LOCATION}/sensors/{name}",
                          "next": "its next failures are not alerted until one of its ticks succeeds"})


def _alert_first_failure(name: str, error: Exception, store: StoreResource, sinks: SinksResource) -> None:
    """Alert the failure of sensor `name` unless its episode was alerted. Never raises: the
    sensor's own error is what its tick shows."""
    try:
        key = (store.url, name)
        if _may_have_row.get(key):
            return
        try:
            first = _mark_failing(store, name)
        except Exception as exc:  # noqa: BLE001 - the store may be what the sensor failed on
            log.warning("sensor %s: its failure is alerted, not kept in the store (%s): a restart alerts it again",
                        name, mask_text(describe(exc)))
            first = True
        if first:
            send_alert(sensor_failing_alert(name, error, get_settings().dagster_ui_url), sinks, store=store)
        _may_have_row[key] = True
    except Exception as exc:  # noqa: BLE001 - alerting must not recurse
        log.error("sensor %s failed and its alert was not sent: %s", name, mask_text(describe(exc)))


def _mark_failing(store: StoreResource, name: str) -> bool:
    """Record sensor `name` failing; False if it was already (alerted by another process, or before a restart)."""
    try:
        with store.write() as conn:
            conn.execute(failing_t.insert().values(sensor=name, since=utcnow()))
    except sa.exc.IntegrityError:
        return False
    return True


def _end_episode(name: str, store: StoreResource) -> None:
    """Sensor `name` succeeded: its next failure alerts. Writes only when a row may be there."""
    key = (store.url, name)
    if not _may_have_row.get(key, True):
        return
    try:
        with store.write() as conn:
            conn.execute(failing_t.delete().where(failing_t.c.sensor == name))
    except Exception as exc:  # noqa: BLE001 - the tick succeeded: tried again at the next one
        log.warning("sensor %s succeeded; its failure's end not recorded yet: %s", name, mask_text(describe(exc)))
        return
    _may_have_row[key] = False
