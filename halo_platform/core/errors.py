"""Error types shared by every domain.

`HaloError` is a user error: the CLI prints its message as one line and exits 2,
the HTTP service answers 4xx with it. Anything else is a bug and keeps its traceback.
In a Dagster run, a user error goes through `fail_once`: a re-run cannot fix a typo.
"""

from __future__ import annotations

from typing import Any, NoReturn

# Dagster's per-run retry limit (a documented run tag); read when the run fails.
MAX_RETRIES_TAG = "dagster/max_retries"


class HaloError(Exception):
    """Bad input or configuration, explained in one line."""

    http_status = 422


class NotFoundError(HaloError):
    http_status = 404


class ConflictError(HaloError):
    http_status = 409



def invalid_settings(what: str, exc: Exception) -> HaloError:
    """The error for configuration `what` (e.g. "sink 'outbox' (ftp)") that its class refused:
    the fields and why, never their values (they may be secrets)."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors) or type(exc).__name__
    return HaloError(f"{what}: invalid settings: {why}")

def fail_once(context: Any, error: Exception | str) -> NoReturn:  # noqa: ANN401 - any Dagster op/asset context
    """Fail the current Dagster run for a user error: message first, no stack trace, and not
    retried, neither by the op's retry policy nor by the instance's run retries (dagster.yaml
    `run_retries`), which would otherwise re-run the same typo, failing and alerting each time.

    The instance decides "will retry" from the run's tags when the run-failure event is
    stored, so the run is tagged `dagster/max_retries: 0` before the failure is raised;
    infrastructure failures (a lost worker, a database down) keep their retries."""
    import dagster as dg

    context.instance.add_run_tags(context.run_id, {MAX_RETRIES_TAG: "0", "halo/user_error": "true"})
    raise dg.Failure(description=str(error), allow_retries=False) from None
