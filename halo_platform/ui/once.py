"""Forms that act once. A form whose answer shows what it made (a new API key, shown that once) is
answered with that page, not a redirect, so a reload of the answer sends the form again, as does
back-and-send, a double click or a client's retry: Rotate rotated the key again (the key just shown
was replaced), Create made a second key. Each such form carries a one-time token the page drew
(`form_token()`, `macros.once`); `sent_once` records it in the change's transaction, and the same token
sent again is refused (`FormSentAlready`), the change not made twice.

A token is `<unix seconds it was drawn>-<128 random bits in hex>`: a token older than
FORM_HOURS (no page lives that long: a session lasts 12 hours) or of another shape is refused, so
the recorded tokens can be deleted after FORM_HOURS without a re-sent form ever acting again. A form
sent without a token (a script posting the form itself) acts as before: the token guards the forms
the pages give."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from halo_platform.core.errors import ConflictError, HaloError
from halo_platform.core.http import repeated_error
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.ui.tables import FormSent

FIELD = "form_token"
FORM_HOURS = 24
SKEW_SECONDS = 300  # a token drawn by another worker whose clock is a little ahead
_SHAPE = re.compile(r"([0-9]{10})-[0-9a-f]{32}")
sent_t = FormSent.__table__
STALE = "This form is not one this page gave, or is more than 24 hours old: nothing was done; reload the page and send it again."


class FormSentAlready(ConflictError):
    """The form was sent before with this token: its change was made then, and is not made again."""


def form_token() -> str:
    """A new one-time token for a form the page draws."""
    return f"{int(time.time())}-{secrets.token_hex(16)}"


def _token(form: Any) -> str | None:  # noqa: ANN401 - a form
    """The form's token; None for a form without one. HaloError for one the pages did not give."""
    if twice := repeated_error(form, (FIELD,)):
        raise HaloError(twice)
    token = form.get(FIELD)
    if token is None:
        return None
    shape = _SHAPE.fullmatch(str(token))
    if shape is None or not -FORM_HOURS * 3600 < int(shape.group(1)) - time.time() <= SKEW_SECONDS:
        raise HaloError(STALE)
    return str(token)


@contextmanager
def sent_once(store: StoreResource, form: Any, sent_by: str, already: str) -> Iterator[Connection]:  # noqa: ANN401 - a form
    """A write transaction for the form's change (the `with` block, given the connection), the
    form's token recorded in it first: a token recorded before raises FormSentAlready(`already`) and
    the block does not run. One transaction: a change refused (an exception) or never made (the
    process died) records no token either, and the form may be sent again. A token recorded in a
    transaction of its own, then the change in another, left a process dying between them "already
    sent" with nothing made."""
    token = _token(form)
    now = utcnow()
    with store.write() as conn:
        if token is not None:
            conn.execute(sent_t.delete().where(sent_t.c.sent_at < now - dt.timedelta(hours=FORM_HOURS)))
            try:
                conn.execute(sent_t.insert().values(token=token, sent_at=now, sent_by=sent_by))
            except IntegrityError:  # sent before, or at once by a double click: the first send acts
                raise FormSentAlready(already) from None
        yield conn
