"""Demo credentials for `make run`: a key named `demo` with every scope and a user `admin`,
both new on every run and printed (a key is shown only once, so every earlier demo key that
still works is revoked, a rotation's replaced ones too, and the admin gets a new password). The
user `admin` is the demo's (its password is replaced on every run): one that was a viewer or an
operator is made an admin again and the line says what it was, so the role printed is the role it
has and `make run` gives an admin, as the README says."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from halo_platform.access import keys, users
from halo_platform.core.errors import NotFoundError
from halo_platform.core.store import StoreResource

DEMO_KEY, DEMO_ADMIN = "demo", "admin"
ACTOR = "halo demo"  # who the changes are recorded as made by


def seed(settings) -> Iterator[str]:  # noqa: ANN001
    store = StoreResource(db_url=settings.db_url)
    try:
        key = keys.replace_keys(store, DEMO_KEY, ["admin"], replaced_by=ACTOR)
        password = secrets.token_urlsafe(12)
        try:
            was = users.set_password(store, DEMO_ADMIN, password, changed_by=ACTOR, role="admin")
        except NotFoundError:
            was = "admin"
            users.create_user(store, DEMO_ADMIN, "admin", password, created_by=ACTOR)
    finally:
        store.dispose()
    yield f"demo API key (every scope; shown once, replaced by the next `halo demo`): {key}"
    yield f"demo Control Center user: {DEMO_ADMIN} / {password}  (role admin{'' if was == 'admin' else f'; it was {was}'})"
