"""Creating a task request: the one function behind `halo tasks run`, the HTTP API and the
Control Center.

The payload is validated against the task's Config (and its sinks against the sinks
file) before anything is queued. Then:

- `wait=False` submits the run to the Dagster webserver (`DAGSTER_UI_URL`, the one `halo up`
  starts) through its public GraphQL client: the webserver creates the run on its instance
  and queues it for the daemon, in about 0.1 s (a `dagster job launch` subprocess took 6-30 s,
  and the public API has no in-process way to queue a run the daemon can start);
- `wait=True` executes the same job in this process (`execute_in_process` with a run id
  chosen here) and returns the final state.

Either way the request id is the Dagster run id; the asset and the run-status sensors move
its audit row forward, in whatever order they report.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from halo_platform.core.errors import ConflictError, HaloError
from halo_platform.core.instance import dagster_instance
from halo_platform.core.models import utcnow
from halo_platform.core.redact import mask_text
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.core.text import check_name, cut, echo, http_url
from halo_platform.reports import audit
from halo_platform.reports.assets import DEFAULT_TIMEZONE, job_name, run_config, run_tags
from halo_platform.reports.task import PayloadError, RunContext, Task, get_task


def prepare_request(task_name: str, payload: Mapping[str, Any] | None, sinks: Sequence[str] | None) -> tuple[Any, dict]:
    """(task, payload in its wire form) after validation; raises HaloError (HTTP 422) with the reason."""
    from halo_platform.sinks import SinksResource

    task = get_task(task_name)
    payload = dict(payload or {})
    if sinks:
        # the payload's own list as its schema reads it: `"sinks": "a"` is refused as the payload alone
        # is (not "given twice"), and `"sinks": ""` or `null` was dropped without a word
        inner = task.validate_payload(payload).sinks if "sinks" in payload else []
        if inner and inner != list(sinks):  # else one of the two lists the caller named is dropped without a word
            reason = f"given twice: {list(sinks)} beside the payload and {inner} in it; give one list"
            raise PayloadError(task.name, [{"field": "sinks", "reason": cut(reason, 300)}])
        # checked as sinks before the payload: `--sink outbox --sink outbox` was refused as an invalid payload
        SinksResource().validate_names(list(sinks))
        payload["sinks"] = list(sinks)
    config = task.check_payload(payload, RunContext(utcnow(), DEFAULT_TIMEZONE))  # e.g. an empty period
    if config.sinks and not sinks:  # the payload's own list
        SinksResource().validate_names(list(config.sinks))
    elif not sinks:
        check_default_sinks(task)
    return task, task.wire_payload(payload)


class DefaultSinkMissing(HaloError):
    """A task's default sink the sinks file does not have: the server's configuration, not the
    request (HTTP 503; a request naming its sinks is taken) nor the schedule (its skip says so)."""

    http_status = 503


def check_default_sinks(task: Task, check_sinks: Callable[..., None] | None = None, of: str = "request") -> None:
    """The sinks a request (a schedule: `of`) naming none goes to (the task's defaults), as one
    reading of the sinks file has them: `check_sinks`'s (a `SinksResource.names_check()`, the
    schedule sensor's tick's), else the file read now (it was read twice, and a file rewritten
    between the two answered 'unknown sink' for a default the first reading had). Else
    DefaultSinkMissing naming the missing ones and the file (once a 422 on `sinks`, a field the
    caller never sent, and a schedule's skip 'unknown sink(s)'), or UnknownSink for an entry
    whose kind no sink module declares."""
    from halo_platform.sinks import SinksResource

    resource = SinksResource()

    def missing(names: list[str]) -> DefaultSinkMissing:
        sink = f"sink {echo(names[0])} is" if len(names) == 1 else f"sinks {', '.join(map(echo, names))} are"
        return DefaultSinkMissing(f"task {task.name}: its default {sink} not in the sinks file {resource.path()} (HALO_SINKS_FILE); "
                                  f"name the {of}'s sinks, or add {'it' if len(names) == 1 else 'them'} to that file")

    (check_sinks or resource.validate_names)(list(task.default_sinks), missing=missing)


KEY_LENGTH = 255  # the column's


def check_idempotency_key(key: str) -> str:
    """The key as given: 1 to 255 visible ASCII characters (a UUID, a form's token); else HaloError (422)."""
    if not 1 <= len(key) <= KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise HaloError(f"Idempotency-Key: 1 to {KEY_LENGTH} visible ASCII characters (such as a UUID)")
    return key


class IdempotencyConflict(ConflictError):
    """The idempotency key names an earlier request of another task or payload (HTTP 409)."""

    def __init__(self, first: Mapping[str, Any]) -> None:
        super().__init__(f"Idempotency-Key already sent with another task or payload: request {first['request_id']}")
        self.request = first


def _the_first(first: dict[str, Any], task: Task, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The earlier request of the same key, when it asked for the same; else IdempotencyConflict.
    A field given at its default (`"sinks": []`) asks for the same as one left out."""
    def meant(given: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            return task.validate_payload(given).model_dump(mode="json", exclude_defaults=True)
        except HaloError:  # the first one's payload no longer fits the task's schema: not the same
            return None

    if first["task"] != task.name or (first["payload"] != dict(payload) and meant(first["payload"]) != meant(payload)):
        raise IdempotencyConflict(first)
    return first


ENDED_POLL_SECONDS = 0.5  # between looks at the first request of a key, which a `wait` waits for


def _ended(store: StoreResource, request: dict[str, Any], wait: bool) -> dict[str, Any]:
    """`request` (the first of an idempotency key), once it has ended when `wait`: the repeat of a
    `halo tasks run --wait` answers with the first request's final status, as the first one does,
    not the RUNNING of a report still being made (exit 1: failed, to a script)."""
    while wait and request["status"] not in audit.TERMINAL:
        time.sleep(ENDED_POLL_SECONDS)
        request = audit.get_request(store, request["request_id"])
    return request


def create_request(
    store: StoreResource,
    task_name: str,
    payload: Mapping[str, Any] | None = None,
    sinks: Sequence[str] | None = None,
    requested_by: str | None = None,
    trigger: str = "manual",
    wait: bool = False,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Validate, start the run, record it QUEUED; returns the request (final state when `wait`).

    With `idempotency_key` (the Control Center form's one-time key, the API's `Idempotency-Key`),
    a key `requested_by` already used answers with that request (once ended, when `wait`) and starts nothing; the same key
    with another task or payload is an IdempotencyConflict (409). The key is stored on the request
    row under a unique index (key, requester: '' for none): two such requests at the same instant both submit a
    run (the run id is the webserver's to choose, so the row cannot be written first); the one
    recorded second loses the key, its run is canceled before it starts, and it answers with the
    first. The key is on the run's tags too: of a run whose submission was answered too late
    (`SubmissionUnanswered`) and the run of the request sent again, the one recorded second is a
    repeat and runs nothing (`audit.record_run_status`)."""
    if trigger not in audit.TRIGGERS:
        raise ValueError(f"trigger {trigger!r}: one of {', '.join(audit.TRIGGERS)}")
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    if requested_by is not None:  # recorded on the run's tags and its audit row: refused before anything is queued
        check_name(requested_by, "requested_by")
    task, payload = prepare_request(task_name, payload, sinks)
    if idempotency_key is not None and (first := audit.find_by_key(store, requested_by, idempotency_key)):
        return _ended(store, _the_first(first, task, payload), wait)
    tags = run_tags(task, trigger, requested_by, payload, idempotency_key)
    audit_fields = {"task": task.name, "payload": payload, "trigger": trigger, "requested_by": requested_by}
    if not wait:
        request_id = submit_run(task.name, run_config(task, payload), tags)
        try:
            audit.record_status(store, request_id, "QUEUED", **audit_fields, idempotency_key=idempotency_key)
        except audit.KeyTaken as taken:
            cancel_run(request_id)
            audit.record_repeat(store, request_id, taken.request, **audit_fields)
            return _the_first(taken.request, task, payload)
        return audit.get_request(store, request_id)
    request_id = str(uuid.uuid4())
    try:
        audit.record_status(store, request_id, "QUEUED", **audit_fields, idempotency_key=idempotency_key)
    except audit.KeyTaken as taken:  # nothing started yet: the first request is the answer
        return _ended(store, _the_first(taken.request, task, payload), True)
    try:
        _execute(store, task.name, request_id, run_config(task, payload), tags)
    except KeyboardInterrupt:  # stopped before Dagster ran the run (the definitions loading): nobody will run it
        audit.record_status(store, request_id, "CANCELED", task=task.name, error=INTERRUPTED)
        raise
    except Exception as exc:
        audit.record_status(store, request_id, "FAILED", task=task.name, error=f"could not start the run: {exc}")
        raise
    return audit.get_request(store, request_id)


# A run `wait` runs is this process's: stopped, nobody finishes it (Dagster takes SIGTERM as Ctrl-C
# while it runs the run, and ends the run at the step it was in)
INTERRUPTED = "stopped by a signal (Ctrl-C, SIGTERM) before its run finished"
# on a run `wait` runs: the process running it, so that once it is gone (killed, SIGKILL) the run is
# ended by `task_request_abandoned_sensor`
PID_TAG, HOST_TAG, START_TAG = "halo/pid", "halo/host", "halo/process_start"


def process_host() -> str:
    """Where this process's pid means this process: the host name, and on Linux the PID namespace
    (a container sharing the host's name sees other pids)."""
    namespace = Path("/proc/self/ns/pid")
    return f"{socket.gethostname()} {os.readlink(namespace)}" if namespace.exists() else socket.gethostname()


def process_start(pid: int) -> str | None:
    """When process `pid` started, as Linux tells it: the boot's id and the clock ticks from that boot
    to the start (/proc/<pid>/stat field 22), which no later process given the same pid shares (one
    after a reboot or a wrap-around of pids); None without /proc or without such a process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        ticks = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]  # after the command, which may hold spaces
    except (OSError, IndexError):
        return None
    return f"{boot} {ticks}"


def process_tags() -> dict[str, str]:
    """This process as `task_request_abandoned_sensor` finds it: its pid, where that pid means it and,
    on Linux, when it started (which tells it from a process given its pid since)."""
    started = process_start(os.getpid())
    return {PID_TAG: str(os.getpid()), HOST_TAG: process_host(), **({START_TAG: started} if started else {})}


def _execute(store: StoreResource, task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    import warnings

    import dagster as dg

    with warnings.catch_warnings():  # beta/preview notes about definitions: not the requester's concern
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", category)
        _execute_quietly(store, task_name, request_id, config, tags)


def _execute_quietly(store: StoreResource, task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    from halo_platform.core.failures import failure_text
    from halo_platform.reports.definitions import defs
    from halo_platform.reports.sensors import record_run_outcome

    instance = dagster_instance()
    job = defs.resolve_job_def(job_name(task_name))
    # The terminal gets one `error:` line; the run's event log (UI, `halo tasks log`) keeps everything,
    # stack traces included. CRITICAL: a step failure is logged at ERROR with its whole traceback.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = job.execute_in_process(run_config={**config, **quiet}, instance=instance, run_id=request_id,
                                    tags={**tags, **process_tags()},
                                    raise_on_error=False)
    if not result.success:
        errors = [e.event_specific_data.error for e in result.all_events
                  if e.is_step_failure and e.event_specific_data and e.event_specific_data.error]
        if any(e.cls_name == "DagsterExecutionInterruptedError" for e in errors):
            record_run_outcome(store, instance, instance.get_run_by_id(request_id), "CANCELED", INTERRUPTED)
            return
        message = failure_text(errors[0]).splitlines()[0] if errors else "run failed"
        record_run_outcome(store, instance, instance.get_run_by_id(request_id), "FAILED", message)


class DagsterUnavailable(HaloError):
    """The Dagster webserver did not take the run (not running, or refused it)."""

    http_status = 503


class SubmissionUnanswered(HaloError):
    """The submission was sent to the Dagster webserver and its answer was lost (late, cut off, a
    proxy's 5xx): the run may be queued, and run (HTTP 504)."""

    http_status = 504


SUBMIT_TIMEOUT = 30  # seconds to wait for the webserver's answer to a submission
_CLIENT_WRAPPER = "Exception occured during execution of query"  # dagster-graphql's words, misspelt as it writes them

# Read-only; the webserver opens its run-storage and event-log connections for it, which its first
# run submission would otherwise open (that first submission: 156-238 ms against 40-100 ms for the
# next ones, 98 ms after this query; load average 5-6). A p99 over 50 requests is about the mean of
# the two slowest: a cold first request decides it.
WARM_UP_QUERY = "{ runsOrError(limit: 1) { __typename } assetsOrError(limit: 1) { __typename } }"


def warm_up_webserver(wait_seconds: float = 120) -> bool:
    """Send the Dagster webserver WARM_UP_QUERY, waiting up to `wait_seconds` for it to answer
    (`halo up` starts it with the API); False when it did not answer or refused the query."""
    import httpx

    url = f"{get_settings().dagster_ui_url}/graphql"
    deadline = time.monotonic() + wait_seconds
    # one client for every try: a client builds a TLS context (reads the CA bundle), which cost more
    # CPU than the try itself, a tenth of the API's CPU while no webserver answered
    with httpx.Client(timeout=30) as client:
        while True:
            try:
                answer = client.post(url, json={"query": WARM_UP_QUERY})
                return answer.is_success and not answer.json().get("errors")
            except (httpx.HTTPError, ValueError):
                if time.monotonic() >= deadline:
                    return False
                time.sleep(1)


def _client() -> Any:
    """A GraphQL client of the webserver at DAGSTER_UI_URL; one per call: the client's transport
    holds one session and refuses concurrent use. A URL that is no http(s) URL (`localhost:3000`,
    its scheme left out) is DagsterUnavailable: the client took it apart into a host it would not
    take, and a stack trace (a 500 from the API) said so."""
    # imported here: the GraphQL client and its HTTP stack are 10 MB that a run never uses
    from dagster_graphql import DagsterGraphQLClient

    url = get_settings().dagster_ui_url
    parts = http_url(url)
    if parts is None:
        raise DagsterUnavailable(f"could not submit the run to the Dagster webserver at {mask_text(url)}: DAGSTER_UI_URL must be"
                                 " its http(s) URL, such as http://127.0.0.1:3000")
    return DagsterGraphQLClient(parts.hostname, port_number=parts.port, use_https=parts.scheme == "https",
                                path_prefix=parts.path.rstrip("/"), timeout=SUBMIT_TIMEOUT)


def submit_run(task_name: str, config: dict, tags: dict[str, str]) -> str:
    """Queue a run of the task's job on the webserver's instance; returns its run id.
    DagsterUnavailable when it was not queued; SubmissionUnanswered when the submission was sent
    and its answer did not come back (it may have queued the run)."""
    from dagster_graphql import DagsterGraphQLClientError

    url, job = get_settings().dagster_ui_url, job_name(task_name)
    client = _client()
    try:
        # the webserver is asked which code location holds the job (a deployment names its location as it
        # likes; a name fixed here failed every request elsewhere), a query of 8 ms. Asked apart from the
        # submission: an answer lost to it queued nothing, where the client's own lookup inside
        # `submit_job_execution` made it a run that may run (504)
        held = client._get_repo_locations_and_names_with_pipeline(job)  # noqa: SLF001 - the client's lookup, without the submission
    except DagsterGraphQLClientError as exc:
        lost = _lost_answer(exc)
        raise _unavailable(url, exc, f"{lost} to the query of the code locations" if lost else None) from None
    if len(held) != 1:  # the client's words for two were 'Must specify repository_location_name ...', no operator's to follow
        where = f"is in more than one code location ({', '.join(h.repository_location_name for h in held)}); keep it in one" if held \
            else "is in no code location of it"
        raise DagsterUnavailable(f"could not submit the run to the Dagster webserver at {mask_text(url)}: job {job} {where}")
    try:
        return client.submit_job_execution(job, repository_location_name=held[0].repository_location_name,
                                           repository_name=held[0].repository_name, run_config=config, tags=tags)
    except DagsterGraphQLClientError as exc:
        if lost := _lost_answer(exc):
            raise SubmissionUnanswered(f"could not learn whether the Dagster webserver at {mask_text(url)} queued the run: {lost};"
                                       " it may run (see `halo tasks log`), and a request sent again with the same idempotency"
                                       " key runs once") from None
        raise _unavailable(url, exc) from None


def _unavailable(url: str, exc: BaseException, why: str | None = None) -> DagsterUnavailable:
    """DagsterUnavailable for what the client raised, `why` or the reason `exc` gives."""
    # the client wraps what its transport raised (a connection it could not make, an answer that is
    # no GraphQL) in 'Exception occured during execution of query', which names neither
    told = exc.__cause__ if str(exc).startswith(_CLIENT_WRAPPER) and exc.__cause__ is not None else exc
    why = why or _no_connection(exc) or next((line for line in str(told).splitlines() if line.strip()), type(told).__name__)
    # the URL as settings give it may carry a password or a token (a proxy's): masked, as in a log line
    return DagsterUnavailable(f"could not submit the run to the Dagster webserver at {mask_text(url)} (is `halo up` running?): "
                              f"{mask_text(why[:300])}")


def _lost_answer(exc: BaseException) -> str | None:
    """How a submission's answer was lost after the request was sent (the client's read timed out,
    the connection broke off, a server error such as a proxy's 502 or 504: the webserver may have
    queued the run), from `exc` and what it was raised from; None when the request never left (no
    connection made: refused, no such host) or was refused (a 4xx, a GraphQL error)."""
    from http.client import responses

    from gql.transport.exceptions import TransportServerError  # the client's transport
    from requests.exceptions import ConnectionError as BrokenConnection
    from requests.exceptions import ReadTimeout

    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ReadTimeout):
            return f"no answer within {SUBMIT_TIMEOUT} s"
        if isinstance(cause, TransportServerError):
            return f"an HTTP {cause.code} ({responses.get(cause.code, 'server error')})" if (cause.code or 0) >= 500 else None
        if isinstance(cause, BrokenConnection):
            return None if _no_connection(cause) else "the connection broke off before the answer"
        cause = cause.__cause__
    return None


def _no_connection(exc: BaseException) -> str | None:
    """Why no connection to the webserver was made ('no connection (Connection refused)', a host
    name that does not resolve, a connect timeout), from `exc` and what it was raised from; None
    when one was made or the failure was another."""
    from requests.exceptions import ConnectionError as BrokenConnection
    from urllib3.exceptions import ConnectTimeoutError  # and its subclass NewConnectionError: refused, no such host

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, BrokenConnection):
        cause = cause.__cause__
    reason = getattr(cause.args[0], "reason", None) if cause is not None and cause.args else None  # urllib3's MaxRetryError's
    if not isinstance(reason, ConnectTimeoutError):
        return None
    system = reason.__cause__  # the socket's error: ConnectionRefusedError, socket.gaierror, TimeoutError
    return f"no connection ({getattr(system, 'strerror', None) or system or type(reason).__name__})"


def cancel_run(run_id: str) -> None:
    """Cancel a queued run on the webserver's instance (a repeat that lost its idempotency key);
    a failure is logged: the run-status sensors still record what became of it."""
    import logging

    from dagster_graphql import DagsterGraphQLClientError

    try:
        _client().terminate_run(run_id)
    except DagsterGraphQLClientError as exc:
        logging.getLogger(__name__).warning("could not cancel the repeated run %s: %s", run_id, str(exc)[:300])
