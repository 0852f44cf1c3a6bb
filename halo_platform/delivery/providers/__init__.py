"""Provider kinds. Every module here defining a `Provider` subclass with a `kind` is a kind
(found by `core.plugins.discover`); the `providers` resource builds and owns the clients."""

from __future__ import annotations

from halo_platform.core.redact import mask_recipient
from halo_platform.delivery.providers.base import (
    ACKNOWLEDGED,
    PERMANENT,
    RETRYABLE,
    UNKNOWN,
    CallbackEvent,
    CallbackRejected,
    CallbackRequest,
    Outgoing,
    Provider,
    SendResult,
)

__all__ = [
    "ACKNOWLEDGED",
    "PERMANENT",
    "RETRYABLE",
    "UNKNOWN",
    "CallbackEvent",
    "CallbackRejected",
    "CallbackRequest",
    "Outgoing",
    "Provider",
    "SendResult",
    "mask_recipient",
]
