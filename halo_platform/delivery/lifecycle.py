"""A message's lifecycle, the pure rules: which status may follow which (a status only moves
forward), what a provider's answer makes of a message (sent, provider_error, retry_scheduled
with backoff, lost, expired), and what becomes of one whose sender died mid-request. The SQL
that applies them is in `queue`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from halo_platform.core.redact import mask_recipient
from halo_platform.delivery.config import RetryConfig
from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT, UNKNOWN, SendResult

DUE = ("queued", "retry_scheduled")
#: lifecycle order: a status only moves forward (a late callback never rewinds it). `suppressed`
#: ends a message at our request's stage, as `lost` does: one a provider may have taken before the
#: opt-out (in flight when its sender died) moves on with that provider's receipt, and one never
#: handed to a provider has none (a callback only reaches its own provider's messages)
RANK = {"queued": 0, "retry_scheduled": 0, "sent": 1, "lost": 1, "expired": 1, "suppressed": 1, "delivered": 2, "provider_error": 2, "received": 3,
        "delivery_failed": 3}


def overtaken_by(new: str) -> tuple[str, ...]:
    """The statuses a message leaves for `new` (a callback's event): those of a lower rank. A
    status only moves forward, and of two outcomes of the same stage (delivered or
    provider_error, received or delivery_failed) the first one stays."""
    return tuple(status for status, rank in RANK.items() if rank < RANK.get(new, 0))


@dataclass(frozen=True)
class Transition:
    message_id: str
    status: str  # the new status; `held` keeps the message queued untouched
    provider: str | None
    provider_message_id: str | None = None
    number_of_retries: int = 0
    next_attempt_at: dt.datetime | None = None
    detail: str = ""
    #: a `held` or `retry_scheduled` message pinned to its provider (`uncertain_resolution` said
    #: `same_provider`) keeps its in-flight marker, so the next claim sends it to that provider
    #: under the same key again
    in_flight_at: dt.datetime | None = None


def transition(row, result: SendResult | None, provider: str | None, retry: RetryConfig, now: dt.datetime, high: bool = False,  # noqa: ANN001
               idempotent: bool = False) -> Transition:
    """The next state of message `row` after `result` from `provider` (None: no provider could take it).
    `idempotent`: `provider` drops a repeated request by its key, so a queued message whose
    outcome there is unknown is retried there, pinned like a dead sender's (`uncertain_resolution`):
    the provider may have taken it, and another provider would send it a second time."""
    if result is not None and result.detail:
        result = replace(result, detail=masked_detail(result.detail, row.recipient))
    if result is None:
        return Transition(row.id, "held", row.provider, None, row.number_of_retries, due_by(row, now + dt.timedelta(seconds=retry.backoff(1))),
                          "no provider available")
    if result.outcome == ACKNOWLEDGED:
        return Transition(row.id, "sent", provider, result.provider_message_id, row.number_of_retries, row.next_attempt_at)
    if result.outcome == PERMANENT:
        return Transition(row.id, "provider_error", provider, None, row.number_of_retries, row.next_attempt_at, result.detail)
    if high and result.outcome == UNKNOWN:
        return Transition(row.id, "lost", provider, None, row.number_of_retries, row.next_attempt_at, f"outcome unknown, not re-sent: {result.detail}")
    retries = row.number_of_retries + 1
    if retries > retry.max_retries:
        return Transition(row.id, "lost", provider, None, row.number_of_retries, row.next_attempt_at, f"gave up after {row.number_of_retries} retries: {result.detail}")
    # a queued message pinned to its provider (`row.in_flight_at` as claimed; a HIGH send's is its
    # own marker) stays pinned: its first request may have been accepted, and only that provider
    # drops a second copy by its key
    pin = now if idempotent and result.outcome == UNKNOWN else row.in_flight_at
    return Transition(row.id, "retry_scheduled", provider, None, retries, due_by(row, now + dt.timedelta(seconds=retry.backoff(retries))),
                      result.detail, None if high else pin)


def due_by(row, at: dt.datetime) -> dt.datetime:  # noqa: ANN001
    """`at`, or `row`'s `expires_at` if that comes first: a message waiting for a retry or a
    provider is claimed when it expires, and marked `expired` then, not at its next attempt."""
    return min(at, row.expires_at) if row.expires_at is not None else at


def masked_detail(detail: str, recipient: str | None) -> str:
    """A provider's answer with the recipient masked wherever it quotes it: a push token or a
    OneSignal external id is neither a phone nor an email, which `mask_text` finds by shape."""
    return detail.replace(recipient, mask_recipient(recipient)) if recipient and recipient in detail else detail


def requeued(row, due: dt.datetime, detail: str) -> Transition:  # noqa: ANN001
    """Back in the queue as it was, due at `due`: its provider paused or out of tokens, it was
    not sent (no retry counted; a claim routes it again). A message still in flight from a dead
    sender (`row.in_flight_at`: pinned to its provider) keeps its marker: routed afresh, a
    second provider could send what the first one may have accepted."""
    return Transition(row.id, "held", row.provider, None, row.number_of_retries, due_by(row, due), detail, row.in_flight_at)


def expired(row, now: dt.datetime) -> Transition:  # noqa: ANN001
    return Transition(row.id, "expired", row.provider, None, row.number_of_retries, row.next_attempt_at, "expired before it could be sent")


def uncertain_resolution(priority: str, policy: str, idempotent: bool, unknowns: int) -> str:
    """What to do with a message whose request was in flight when its sender died:
    `same_provider` (send it again to that provider under the same idempotency key, which
    drops a second copy), `resend` (send it once more) or `lost`. `unknowns` counts the
    earlier uncertain outcomes of the message: a resend happens at most once."""
    if idempotent:
        return "same_provider"
    if priority == "HIGH" or policy != "resend" or unknowns > 0:
        return "lost"
    return "resend"


def attempt_row(result: SendResult, provider: str, now: dt.datetime) -> dict:
    return {"message_id": result.message_id, "provider": provider, "outcome": result.outcome, "http_status": result.http_status, "latency_ms": result.latency_ms, "at": now}
