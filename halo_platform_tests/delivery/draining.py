"""`drain`: one dispatcher sends what is due on a channel, at an optional test clock's time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.resources import ProvidersResource


def drain(providers: ProvidersResource, store: StoreResource, channel: str = "sms", clock: Callable[[], dt.datetime] = utcnow) -> None:
    dispatcher = Dispatcher(providers, store, clock=clock)
    try:
        dispatcher.drain([channel], timeout=20)
    finally:
        dispatcher.close()
