"""Failures of ops, assets, asset checks, sensors and schedules reach Dagster masked.

Dagster stores an exception escaping one of them in its event log or tick history (message,
stack, chained causes and contexts), where the UI and `instance.all_logs` show it; no logging
filter sees it. The messages quote outside data (a warehouse value, a recipient, a URL with its
password), so `masked`, applied to every such function under its Dagster decorator, re-raises
what escapes as a `dg.Failure` whose description is masked (`core.redact`): the exception's type
and first line, then its causes'. The stack stays (file, line, function and source line of each
frame: code, never values); the chained exceptions themselves do not.

Dagster's control flow keeps its meaning: a `dg.RetryRequested` is re-raised itself (its cause
masked), a `dg.Failure` keeps `allow_retries` (description and text metadata masked), interrupts
(BaseException) pass untouched, and a Dagster error bypasses a retry policy as it did."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import dagster as dg

from halo_platform.core.errors import HaloError
from halo_platform.core.redact import error_line, mask_text

F = TypeVar("F", bound=Callable[..., Any])

#: set on every function `masked` returns (test_definitions checks the code location has no other)
MARK = "halo_masked"
#: chained causes described after the exception itself
CAUSES = 3


def masked(fn: F) -> F:
    """`fn` (a plain function or a generator function) whose escaping exceptions are masked;
    same name, docstring and signature, so Dagster sees the same context, config and resources."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(f"masked: {fn.__qualname__} is async; not supported")
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            try:
                return (yield from fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - re-raised masked
                _reraise(exc)
    else:

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - re-raised masked
                _reraise(exc)

    setattr(wrapper, MARK, True)
    return wrapper  # type: ignore[return-value]


def _chained(exc: BaseException) -> BaseException | None:
    """The exception Python's traceback shows after `exc`: its cause, else its context unless suppressed."""
    return exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)


def describe(exc: BaseException) -> str:
    """One masked line: `Type: first line` of the exception (our own errors: the line alone, it says
    what is wrong), then ` <- ` each chained one's (at most `CAUSES`); the number of lines left out
    is said (a database error's next lines hold the SQL)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) <= CAUSES:
        text = current.description if isinstance(current, dg.Failure) else str(current)
        line, more = error_line(text)
        if not isinstance(current, dg.Failure | HaloError) or not line:
            line = f"{type(current).__name__}: {line}" if line else type(current).__name__
        parts.append(line + (f" ({more} more line(s) left out)" if more else ""))
        current = _chained(current)
    return " <- ".join(parts)


def _mask_value(value: Any) -> Any:  # noqa: ANN401 - JSON-like
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


# the metadata kinds that hold text, and how each is made again from its masked text
_TEXTS = {dg.TextMetadataValue: dg.MetadataValue.text, dg.MarkdownMetadataValue: dg.MetadataValue.md,
          dg.UrlMetadataValue: dg.MetadataValue.url, dg.PathMetadataValue: dg.MetadataValue.path}


def _masked_metadata(metadata: dict[str, dg.MetadataValue]) -> dict[str, Any]:
    def mask(value: dg.MetadataValue) -> dg.MetadataValue:
        if type(value) in _TEXTS:
            return _TEXTS[type(value)](mask_text(str(value.value)))
        if isinstance(value, dg.JsonMetadataValue):
            return dg.MetadataValue.json(_mask_value(value.data))
        return value

    return {key: mask(value) for key, value in metadata.items()}


def _failure(exc: Exception) -> dg.Failure:
    if isinstance(exc, dg.Failure):
        description = mask_text(exc.description or "")  # ours, meant to be read whole: every line kept
        if _chained(exc) is not None:
            description += " <- " + describe(_chained(exc))
        return dg.Failure(description=description, metadata=_masked_metadata(dict(exc.metadata)),
                          allow_retries=exc.allow_retries)
    # a Dagster error bypassed an op's retry policy, any other exception was retried by it
    return dg.Failure(description=describe(exc), allow_retries=not isinstance(exc, dg.DagsterError))


def original(failure: dg.Failure) -> BaseException:
    """The exception `masked` replaced by `failure` (`failure` itself if none): for a caller in
    this process (`execute_in_process(raise_on_error=True)`) that handles our errors by their type.
    An attribute, which Dagster never serializes."""
    return getattr(failure, "halo_original", failure)


def _reraise(exc: Exception) -> NoReturn:
    if isinstance(exc, dg.RetryRequested):  # its max_retries and wait as they were
        raise exc from (_failure(exc.__cause__) if isinstance(exc.__cause__, Exception) else None)
    # the stack from where `exc` was raised, without this frame's own entry (it shows the raise below)
    trace = exc.__traceback__.tb_next if exc.__traceback__ else None
    failure = _failure(exc)
    failure.halo_original = exc
    raise failure.with_traceback(trace) from None


def failure_text(error: Any) -> str:  # noqa: ANN401 - Dagster's SerializableErrorInfo
    """What a step raised, from Dagster's record of it: past Dagster's step-execution wrapper, and
    without the exception's module path (`masked`'s Failure holds `Type: line` of what escaped, or
    our own error's line alone). For the CLI's `error:` line, the audit row and the alert."""
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    text = error.message.strip() or error.cls_name
    head, colon, rest = text.partition(": ")
    return rest if colon and head.endswith("." + error.cls_name) else text
