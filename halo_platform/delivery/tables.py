"""Message delivery tables: the queue, lifecycle events, attempts, routing weights, provider state."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from halo_platform.core.models import Base, ExactString, utcnow


class Message(Base):
    """One message; the queue is the rows whose status is `queued` or `retry_scheduled`."""

    __tablename__ = "messages"
    # the queue's index holds only due rows (partial on SQLite/PostgreSQL), so claiming stays
    # an ordered index walk however many sent messages the table keeps
    __table_args__ = (
        sa.Index(
            "ix_messages_due", "channel", "priority_rank", "created_at",
            sqlite_where=sa.text("status IN ('queued', 'retry_scheduled')"),
            postgresql_where=sa.text("status IN ('queued', 'retry_scheduled')"),
        ),
        # the status webhooks' worker reads only the messages that asked for them
        sa.Index(
            "ix_messages_webhooks", "webhook_key", "updated_at",
            sqlite_where=sa.text("webhook_key IS NOT NULL"), postgresql_where=sa.text("webhook_key IS NOT NULL"),
        ),
        # an idempotency key is its caller's own (delivery_0020); the key first, so the Control
        # Center's lookup by key alone reads this index too
        sa.Index("uq_messages_idempotency_key_scope", "idempotency_key", "idempotency_scope", unique=True),
    )

    # message ids compare byte for byte on every store (delivery_0015): on MariaDB our id in capitals was the message
    id: Mapped[str] = mapped_column(ExactString(36), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient: Mapped[str] = mapped_column(sa.String(512))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    capability: Mapped[str] = mapped_column(sa.String(32))
    priority: Mapped[str] = mapped_column(sa.String(8))
    priority_rank: Mapped[int]
    content: Mapped[dict]
    idempotency_key: Mapped[str | None] = mapped_column(ExactString(255))
    # whose key it is, with a key: `created_by`, '' for code that names no caller (a unique index
    # takes two NULLs for two values, and would let such code's key be taken twice)
    idempotency_scope: Mapped[str | None] = mapped_column(ExactString(255))
    payload_hash: Mapped[str] = mapped_column(sa.String(64))
    expires_at: Mapped[dt.datetime | None]
    number_of_retries: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(24))
    provider: Mapped[str | None] = mapped_column(sa.String(128))
    provider_message_id: Mapped[str | None] = mapped_column(ExactString(255), index=True)  # callbacks find their message by it
    next_attempt_at: Mapped[dt.datetime]
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64))
    lease_until: Mapped[dt.datetime | None]
    # set (and committed) before a request carrying the message leaves, cleared with the answer:
    # after a crash, only these messages may or may not have reached their provider (`provider`)
    in_flight_at: Mapped[dt.datetime | None]
    # who asked: the API key's or the user's name (the HTTP service), `cli:<user>`, or what the
    # calling code names (in-process `send_sms`); never taken from the message's own fields
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # SMS: segments as carriers count them (`validation.sms_segments`)
    segments: Mapped[int | None]
    # status webhooks: where every lifecycle event is POSTed, signed with the webhook secret of
    # the API key (its prefix) that submitted the message
    callback_url: Mapped[str | None] = mapped_column(sa.String(2048))
    webhook_key: Mapped[str | None] = mapped_column(sa.String(16))
    timezone: Mapped[str | None] = mapped_column(sa.String(64))  # the recipient's, when the sender gave it (quiet hours)
    # channel fallback: the message to send if this SMS fails, and on that message the SMS it
    # replaces (unique: a fallback is made once, however many runs race to make it)
    fallback: Mapped[dict | None] = mapped_column(sa.JSON(none_as_null=True))
    fallback_of: Mapped[str | None] = mapped_column(ExactString(36), unique=True, index=True)


class MessageEvent(Base):
    """The lifecycle of a message, one row per event (queued, sent, delivered, ...)."""

    __tablename__ = "message_events"
    __table_args__ = (sa.Index("ix_message_events_provider_at", "provider", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ExactString(36), index=True)
    event: Mapped[str] = mapped_column(sa.String(24))
    provider: Mapped[str | None] = mapped_column(sa.String(128))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    detail: Mapped[str | None] = mapped_column(sa.Text)
    dedupe_key: Mapped[str | None] = mapped_column(ExactString(255), unique=True)  # a provider's event: stored once
    #: a provider's event that came after its message had passed it (a `sent` after `received`):
    #: kept in the history, but no lifecycle change, so never sent to the status webhook
    overtaken: Mapped[bool] = mapped_column(server_default=sa.false())  # no Python default: `queue.persist` leaves it out


class ParkedCallback(Base):
    """A provider's event naming only the provider's id for a message (Twilio's MessageSid)
    that came before the dispatcher recorded that id (a callback may overtake the answer it
    follows): applied when the id is recorded for a message of that provider
    (`queue.settle_parked`), dropped after `queue.PARKED_FOR` if it never is."""

    __tablename__ = "parked_callbacks"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(sa.String(128))
    provider_message_id: Mapped[str] = mapped_column(ExactString(255), index=True)
    event: Mapped[str] = mapped_column(sa.String(24))
    dedupe_key: Mapped[str] = mapped_column(sa.Text)  # as the provider's parser gave it: `apply_event` stores it once per message
    detail: Mapped[str | None] = mapped_column(sa.Text)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class DeliveryAttempt(Base):
    """One request to a provider for one message and how it was classified; autopilot reads these."""

    __tablename__ = "delivery_attempts"
    # covering: the autopilot's window and the Providers page's hourly error rates read only these
    __table_args__ = (sa.Index("ix_delivery_attempts_at_provider_outcome", "at", "provider", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(ExactString(36), index=True)
    provider: Mapped[str] = mapped_column(sa.String(128))
    outcome: Mapped[str] = mapped_column(sa.String(16))  # acknowledged | retryable | permanent | unknown
    http_status: Mapped[int | None]
    latency_ms: Mapped[float | None]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SandboxMessage(Base):
    """What `sandbox` providers "sent": the local stand-in for a provider's outbox."""

    __tablename__ = "sandbox_messages"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(128), index=True)
    message_id: Mapped[str | None] = mapped_column(ExactString(36))
    recipient: Mapped[str] = mapped_column(sa.String(512))
    content: Mapped[dict]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RoutingWeight(Base):
    __tablename__ = "routing_weights"

    rule: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    weight: Mapped[float]
    updated_by: Mapped[str | None] = mapped_column(sa.String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RoutingWeightAudit(Base):
    __tablename__ = "routing_weight_audit"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(sa.String(128))
    provider: Mapped[str] = mapped_column(sa.String(128))
    old_weight: Mapped[float | None]
    new_weight: Mapped[float]
    changed_by: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RoutingRuleLock(Base):
    """One row per routing rule whose weights were edited, locked (SELECT ... FOR UPDATE) by each
    edit of them: edits of one rule at the same time take turns, also before the rule has stored
    weights, where no row of them could be locked (`delivery.state.set_weights`)."""

    __tablename__ = "routing_rule_locks"

    rule: Mapped[str] = mapped_column(sa.String(128), primary_key=True)


class RoutingRuleAdded(Base):
    """A routing rule added at run time (the Control Center): it routes
    like a rule of the providers file, which wins if it later names the same key. Its weights
    live in `routing_weights` and its history in `routing_weight_audit` like any rule's."""

    __tablename__ = "routing_rules"

    rule: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    country: Mapped[str] = mapped_column(sa.String(2))
    capability: Mapped[str] = mapped_column(sa.String(32))
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ProviderState(Base):
    """Autopilot's current view of one provider: its traffic factor and ramp step (or an admin's
    manual switch-off)."""

    __tablename__ = "provider_state"

    provider: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    active: Mapped[bool] = mapped_column(default=True)
    factor: Mapped[float] = mapped_column(default=1.0)
    ramp_step: Mapped[int | None]
    reason: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_ping_at: Mapped[dt.datetime | None]
    last_ping_ok: Mapped[bool | None]
    # the provider asked us to wait (429, or a 5xx with Retry-After): no dispatcher sends to it before
    paused_until: Mapped[dt.datetime | None]
    # its `rate_per_second` token bucket, shared by every dispatcher (`throttle`); `bucket_at` is
    # epoch seconds
    bucket_tokens: Mapped[float | None]
    bucket_at: Mapped[float | None]
    # an admin switched the provider off by hand: the autopilot leaves it off until handed back
    manual_by: Mapped[str | None] = mapped_column(sa.String(128))


class ProviderStateChange(Base):
    __tablename__ = "provider_state_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(sa.String(128), index=True)
    active: Mapped[bool]
    factor: Mapped[float]
    reason: Mapped[str] = mapped_column(sa.Text)
    error_rate: Mapped[float | None]
    attempts: Mapped[int | None]
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(sa.String(128))  # a person's change; None: the autopilot's


class Suppression(Base):
    """A recipient who opted out of a channel (STOP, the API, the CLI). The recipient is kept
    only as a keyed hash (`suppressions.recipient_hash`), so the list is not a contact list.
    Scope `normal` stops NORMAL/LOW messages; `all` stops HIGH (OTPs) too."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("channel", "recipient_hash", name="uq_suppressions_channel_recipient"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient_hash: Mapped[str] = mapped_column(sa.String(64))
    scope: Mapped[str] = mapped_column(sa.String(8))
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    created_by: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SuppressionChange(Base):
    """A suppression added (or widened) or lifted, and who did it (access.md: every change records
    who made it): an API key's or user's name, `cli:<login>`, `inbound:<provider>` for a STOP or
    START. Kept after the suppression is lifted; the recipient only as its keyed hash."""

    __tablename__ = "suppression_changes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient_hash: Mapped[str] = mapped_column(sa.String(64))
    change: Mapped[str] = mapped_column(sa.String(8))  # added | lifted
    scope: Mapped[str] = mapped_column(sa.String(8))  # the suppression's once added; the one lifted
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    changed_by: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class WebhookAttempt(Base):
    """One POST of a lifecycle event (`message_events.id`) to its message's `callback_url`. An
    event is delivered once one attempt is `ok`; until then (for 24 h) it is the backlog."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index("ix_webhook_attempts_event_ok", "event_id", "ok"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    event_id: Mapped[int]
    message_id: Mapped[str] = mapped_column(ExactString(36))
    ok: Mapped[bool]
    http_status: Mapped[int | None]
    latency_ms: Mapped[float | None]
    detail: Mapped[str | None] = mapped_column(sa.String(255))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookClaim(Base):
    """A status webhook deliverer's hold on one message's pending events while it POSTs them
    (`webhooks._Poster.claim`): two deliverers at once (`halo delivery webhooks --deliver` beside
    the Dagster job) each POSTed them. Deleted when it is done with them; one whose lease has
    ended (its run died) is taken over."""

    __tablename__ = "webhook_claims"

    message_id: Mapped[str] = mapped_column(ExactString(36), primary_key=True)
    lease_owner: Mapped[str] = mapped_column(sa.String(64))
    lease_until: Mapped[dt.datetime]


class InboundMessage(Base):
    """An inbound SMS that added or lifted an opt-out (STOP, START), kept by the provider's id for
    it and nothing of its sender or text: a provider's signed request sent again (a retry, or a
    captured START replayed after a newer STOP) is applied once."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    # `<provider kind>:<its message id>` (Twilio's MessageSid, Vonage's messageId), `queue.stored_dedupe_key`
    dedupe_key: Mapped[str] = mapped_column(ExactString(255), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(8))  # suppress | lift
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
