"""The sink interface: one small abstract resource, one subclass per destination kind.

A sink takes a delivery (files and/or a short text message) and returns the URIs
it wrote. It raises `TransientSinkError` for what a retry may fix (connection
refused or dropped, timeouts, 4xx SMTP replies) and `PermanentSinkError` for what
it cannot (bad credentials, a refused recipient). `deliver_with_retries` wraps any
sink with bounded retries and backoff and never raises: it reports the outcome.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import dagster as dg

from halo_platform.core.models import utcnow


class SinkError(Exception):
    """Base of sink failures; the message must hold no secret."""


class TransientSinkError(SinkError):
    pass


class PermanentSinkError(SinkError):
    pass


@dataclass(frozen=True)
class Delivery:
    """What to deliver: files (reports) and a subject + text (alerts, email bodies, Slack)."""

    subject: str
    text: str = ""
    files: Sequence[Path] = ()


@dataclass
class DeliveryOutcome:
    sink: str
    status: str  # DELIVERED | FAILED
    attempts: int
    targets: list[str] = field(default_factory=list)
    detail: str = ""
    delivered_at: object = None


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(name: str) -> str:
    """A file name that cannot escape its folder: no separators, no leading dots."""
    cleaned = _SAFE_NAME.sub("_", Path(str(name)).name).lstrip(".")
    return cleaned[:200] or "unnamed"


class Sink(dg.ConfigurableResource, abc.ABC):
    """A named destination. Subclasses set `kind` and implement `deliver`."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def deliver(self, delivery: Delivery) -> list[str]:
        """Deliver; return the URIs written. Raise Transient/PermanentSinkError."""


def deliver_with_retries(
    name: str,
    sink: Sink,
    delivery: Delivery,
    attempts: int = 3,
    backoff_seconds: Sequence[float] = (1.0, 4.0),
    sleep=time.sleep,  # noqa: ANN001
) -> DeliveryOutcome:
    """Deliver through one sink with bounded retries; transient errors back off and retry."""
    detail = ""
    for attempt in range(1, attempts + 1):
        try:
            targets = sink.deliver(delivery)
            return DeliveryOutcome(name, "DELIVERED", attempt, list(targets), "", utcnow())
        except PermanentSinkError as exc:
            return DeliveryOutcome(name, "FAILED", attempt, [], f"permanent: {exc}")
        except (TransientSinkError, OSError, TimeoutError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
            if attempt < attempts:
                sleep(backoff_seconds[min(attempt - 1, len(backoff_seconds) - 1)])
    return DeliveryOutcome(name, "FAILED", attempts, [], f"gave up after {attempts} attempts: {detail}")
