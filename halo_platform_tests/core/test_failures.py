"""`core.failures.masked`: what an op, asset check, sensor or schedule raises reaches Dagster's event
log and tick history with personal data and secrets masked, while Dagster's control flow (retry
policies, RetryRequested, Failure's allow_retries, interrupts, SkipReason) behaves as without it and
Dagster sees the same parameters (context, config, resources)."""

import inspect
import traceback

import dagster as dg
import pytest

from halo_platform.core.errors import HaloError
from halo_platform.core.failures import MARK, describe, failure_text, masked, original

EMAIL, PHONE, PASSWORD = "ana.p@example.com", "+6281234567890", "s3cret-pw"
RAW = f"no route for {EMAIL} / {PHONE} via postgresql://halo:{PASSWORD}@db.internal/x"
SECRETS = (EMAIL, PHONE, PASSWORD)


def error_texts(error) -> list[str]:  # noqa: ANN001 - a SerializableErrorInfo or None
    """Every text of a serialized error: message, class, stack, then its cause and context."""
    if error is None:
        return []
    return [error.message, error.cls_name or "", *error.stack, *error_texts(error.cause), *error_texts(error.context)]


def stored_failures(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """The texts of every failure and retry event the instance stored for the run."""
    texts = []
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event and (event.is_step_failure or event.is_run_failure or event.is_step_up_for_retry):
            data = event.event_specific_data
            texts += error_texts(data.error)
            failure = getattr(data, "user_failure_data", None)
            if failure:
                texts += [failure.description or "", *map(str, failure.metadata.values())]
    return texts


def leaked(texts: list[str]) -> list[str]:
    return [t for t in texts if any(s in t for s in SECRETS)]


def run(op: dg.OpDefinition, **kwargs: object) -> tuple[dg.DagsterInstance, dg.ExecuteInProcessResult]:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.GraphDefinition(name="g", node_defs=[op]).to_job().execute_in_process(
        instance=instance, raise_on_error=False, **kwargs)
    return instance, result


class Settings(dg.Config):
    limit: int = 3


class Thing(dg.ConfigurableResource):
    name: str = "thing"


def test_dagster_sees_the_same_context_config_and_resources():
    def body(context: dg.OpExecutionContext, config: Settings, thing: Thing) -> str:
        """Doc."""
        return f"{context.op.name} {config.limit} {thing.name}"

    wrapped = masked(body)
    assert inspect.signature(wrapped) == inspect.signature(body)
    assert (wrapped.__name__, wrapped.__doc__, getattr(wrapped, MARK)) == ("body", "Doc.", True)
    op = dg.op(wrapped)
    assert op.required_resource_keys == {"thing"} and op.config_schema is not None
    job = dg.GraphDefinition(name="g", node_defs=[op]).to_job(resource_defs={"thing": Thing()})
    result = job.execute_in_process(run_config={"ops": {"body": {"config": {"limit": 7}}}})
    assert result.output_for_node("body") == "body 7 thing"


def test_an_op_failure_is_stored_masked_with_its_type_causes_and_frames():
    def lookup() -> None:
        try:
            {}[EMAIL]
        except KeyError as exc:
            raise ValueError(RAW) from exc

    @dg.op
    @masked
    def send() -> None:
        lookup()

    instance, result = run(send)
    assert not result.success
    texts = stored_failures(instance, result.run_id)
    assert texts and not leaked(texts)
    shown = "\n".join(texts)
    assert "ValueError: no route for a***@example.com / +628*******890 via postgresql://halo:***@db.internal/x" in shown
    assert "<- KeyError: 'a***@example.com'" in shown  # the cause, described
    assert "in lookup" in shown and "in send" in shown  # where, without values


def test_a_generator_op_keeps_its_outputs_and_its_failure_is_masked():
    @dg.op(out={"first": dg.Out(), "second": dg.Out()})
    @masked
    def pair():
        yield dg.Output(1, "first")
        raise RuntimeError(RAW)

    assert inspect.isgeneratorfunction(pair.compute_fn.decorated_fn)
    instance, result = run(pair)
    assert [e.step_output_data.output_name for e in result.all_events if e.is_successful_output] == ["first"]
    texts = stored_failures(instance, result.run_id)
    assert "RuntimeError: no route" in "\n".join(texts) and not leaked(texts)


def test_a_retry_policy_still_retries_and_each_attempt_is_stored_masked():
    attempts = []

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=2))
    @masked
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError(RAW)
        return len(attempts)

    instance, result = run(flaky)
    assert result.success and result.output_for_node("flaky") == 3
    retries = [e for e in instance.all_logs(result.run_id) if e.dagster_event and e.dagster_event.is_step_up_for_retry]
    assert len(retries) == 2
    texts = stored_failures(instance, result.run_id)
    assert "ConnectionError: no route" in "\n".join(texts) and not leaked(texts)


def test_retry_requested_keeps_its_max_retries_and_its_cause_is_masked():
    attempts = []

    @dg.op
    @masked
    def ask_again() -> None:
        attempts.append(1)
        try:
            raise OSError(RAW)
        except OSError as exc:
            raise dg.RetryRequested(max_retries=1, seconds_to_wait=0) from exc

    instance, result = run(ask_again)
    assert not result.success and len(attempts) == 2
    texts = stored_failures(instance, result.run_id)
    assert "Exceeded max_retries of 1" in "\n".join(texts) and "OSError: no route" in "\n".join(texts)
    assert not leaked(texts)


def test_a_failure_keeps_allow_retries_and_gets_its_description_and_metadata_masked():
    attempts = []

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=2))
    @masked
    def refuse() -> None:
        attempts.append(1)
        raise dg.Failure(description=RAW, allow_retries=False,
                         metadata={"to": EMAIL, "targets": [f"mailto:{EMAIL}"], "rows": 3, "note": dg.MetadataValue.md(PHONE)})

    instance, result = run(refuse)
    assert not result.success and len(attempts) == 1  # not retried, as before
    (failure,) = [e.step_failure_data.user_failure_data for e in result.all_events if e.is_step_failure]
    assert failure.description == "no route for a***@example.com / +628*******890 via postgresql://halo:***@db.internal/x"
    assert failure.metadata["targets"].data == ["mailto:a***@example.com"] and failure.metadata["rows"].value == 3
    assert failure.metadata["to"].value == "a***@example.com" and failure.metadata["note"].value == "+628*******890"
    assert not leaked(stored_failures(instance, result.run_id))


def test_a_dagster_error_still_bypasses_the_retry_policy():
    attempts = []

    @dg.op(retry_policy=dg.RetryPolicy(max_retries=2))
    @masked
    def misuse() -> None:
        attempts.append(1)
        raise dg.DagsterInvariantViolationError(RAW)

    instance, result = run(misuse)
    assert not result.success and len(attempts) == 1
    texts = stored_failures(instance, result.run_id)
    assert "DagsterInvariantViolationError: no route" in "\n".join(texts) and not leaked(texts)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), dg.DagsterExecutionInterruptedError()])
def test_interrupts_pass_untouched(interrupt: BaseException):
    def stop() -> None:
        raise interrupt

    with pytest.raises(type(interrupt)) as raised:
        masked(stop)()
    assert raised.value is interrupt


def test_an_asset_check_failure_is_stored_masked():
    @dg.asset
    def ledger() -> int:
        return 1

    @dg.asset_check(asset=ledger)
    @masked
    def ledger_balances() -> dg.AssetCheckResult:
        raise ArithmeticError(RAW)

    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([ledger, ledger_balances], instance=instance, raise_on_error=False)
    assert not result.success
    texts = stored_failures(instance, result.run_id)
    assert "ArithmeticError: no route" in "\n".join(texts) and not leaked(texts)


@dg.op
def noop() -> None:
    pass


@dg.job
def noop_job() -> None:
    noop()


def tick_error(definition: dg.SensorDefinition | dg.ScheduleDefinition, context: object) -> str:
    """What the daemon stores for a failed tick: the serialized exception with its causes."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - any
        definition.evaluate_tick(context)
    return "".join(traceback.format_exception(raised.value))


def test_sensor_and_schedule_tick_errors_are_masked_and_skips_and_requests_unchanged():
    @dg.sensor(job=noop_job)
    @masked
    def watcher(context: dg.SensorEvaluationContext):  # noqa: ANN202
        if context.cursor == "skip":
            return dg.SkipReason("nothing to do")
        yield dg.RunRequest(run_key="a")
        raise LookupError(RAW)

    @dg.schedule(job=noop_job, cron_schedule="* * * * *")
    @masked
    def every_minute(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        raise LookupError(RAW)

    with dg.DagsterInstance.ephemeral() as instance:
        error = tick_error(watcher, dg.build_sensor_context(instance=instance))
        assert "LookupError: no route for a***@example.com" in error and not leaked([error])
        skipped = watcher.evaluate_tick(dg.build_sensor_context(instance=instance, cursor="skip"))
        assert skipped.skip_message == "nothing to do"
        error = tick_error(every_minute, dg.build_schedule_context(instance=instance))
        assert "LookupError: no route" in error and not leaked([error])


def test_describe_says_what_and_how_many_lines_were_left_out_and_follows_causes():
    try:
        try:
            raise ValueError(f"bad value {EMAIL}\nLINE 1: SELECT '{PHONE}'")
        except ValueError:
            raise RuntimeError("query failed") from None
    except RuntimeError as exc:
        assert describe(exc) == "RuntimeError: query failed"
        assert describe(exc.__context__) == "ValueError: bad value a***@example.com (1 more line(s) left out)"
    assert describe(ValueError()) == "ValueError" and describe(dg.Failure()) == "Failure"


def test_a_failure_raised_while_handling_another_keeps_its_whole_description_and_describes_the_other():
    def deliver() -> None:
        try:
            raise ConnectionRefusedError(f"smtp refused {EMAIL}")
        except ConnectionRefusedError:
            raise dg.Failure(description=f"delivery failed:\nemail: {EMAIL}")  # noqa: B904 - its context is the point

    with pytest.raises(dg.Failure) as raised:
        masked(deliver)()
    failure = raised.value
    assert failure.description == ("delivery failed:\nemail: a***@example.com"
                                   " <- ConnectionRefusedError: smtp refused a***@example.com")
    assert failure.__cause__ is None and failure.__suppress_context__ and failure.allow_retries
    assert "in deliver" in "".join(traceback.format_exception(failure))


def test_a_caller_in_this_process_gets_back_the_exception_a_failure_replaced():
    """`execute_in_process(raise_on_error=True)` raises the Failure; the `halo` CLI and the API
    handle our errors by type (a HaloError is one line, exit 2 / 4xx), so they take the original."""
    error = ValueError(RAW)

    def fail() -> None:
        raise error

    with pytest.raises(dg.Failure) as raised:
        masked(fail)()
    assert original(raised.value) is error and not leaked([str(raised.value)])


def _step_error(fn) -> object:  # noqa: ANN001
    """Dagster's record (SerializableErrorInfo) of the failure of a one-op job running `fn`."""
    job = dg.GraphDefinition(name="one", node_defs=[dg.op(name="step")(fn)]).to_job()
    result = job.execute_in_process(raise_on_error=False)
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    return failure.step_failure_data.error


def _raises(exc: Exception):  # noqa: ANN202
    def step() -> None:
        raise exc
    return step


@pytest.mark.parametrize(("fn", "text"), [
    (masked(_raises(HaloError("feed acme: max_lag_minutes must be a positive number"))), "feed acme: max_lag_minutes must be a positive number"),
    (masked(_raises(ValueError("bad value for ada@example.com"))), "ValueError: bad value for a***@example.com"),
    (masked(_raises(dg.Failure(description="delivery failed: outbox: disk full"))), "delivery failed: outbox: disk full"),
    (_raises(HaloError("unmasked, wrapped by Dagster")), "unmasked, wrapped by Dagster"),
    (_raises(KeyError("k")), "KeyError: 'k'"),
], ids=["our-error", "other-error", "failure", "unmasked-our-error", "unmasked-other"])
def test_failure_text_is_what_the_step_raised_without_wrappers_or_module_paths(fn, text: str):
    """The CLI's `error:` line, the audit row and the alert: `halo delivery drain` had printed
    `dispatch failed: dagster._core.definitions.events.Failure: HaloError: ...` once ops were masked."""
    assert failure_text(_step_error(fn)) == text
