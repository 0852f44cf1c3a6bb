"""Error types shared by every domain.

`HaloError` is a user error: the CLI prints its message as one line and exits 2,
the HTTP service answers 4xx with it. Anything else is a bug and keeps its traceback.
"""


class HaloError(Exception):
    """Bad input or configuration, explained in one line."""

    http_status = 422


class NotFoundError(HaloError):
    http_status = 404


class ConflictError(HaloError):
    http_status = 409
