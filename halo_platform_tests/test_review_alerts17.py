"""Review of repeated alerts: a condition that lasts (every provider of a rule down, a schedule
naming a sink gone from the sinks file) is alerted when it starts, not again at every tick while it
lasts, and again once it starts anew. Evaluated on real autopilot runs and sensor evaluations, a
real instance, the real store and the alerts folder sink."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import dagster as dg

from halo_platform.delivery.autopilot import set_manual
from halo_platform.reports.schedules import set_schedule
from halo_platform_tests.delivery.conftest import halo_store, providers_file  # noqa: F401 - fixtures
from halo_platform_tests.delivery.test_jobs import sandbox  # noqa: F401 - fixture
from halo_platform_tests.fixtures.alerts import alerts_sent
from halo_platform_tests.reports.conftest import sinks_file, store  # noqa: F401 - fixtures
from halo_platform_tests.reports.test_schedules import ScheduleSensor, next_hour


def _titles(halo_env: dict, starting: str) -> list[str]:  # noqa: ANN001
    """The titles of the alerts the alerts folder sink holds that start with `starting`."""
    records = [json.loads(p.read_text()) for p in Path(halo_env["HALO_HOME"], "alerts").glob("*.json")]
    return sorted(r["title"] for r in records if r["title"].startswith(starting))


def test_every_provider_of_a_rule_down_is_alerted_once_not_at_every_autopilot_tick(sandbox, halo_store, halo_env):  # noqa: F811
    """delivery.md: 'If every provider of a rule is down ... an ERROR alert goes out'. The autopilot
    runs every minute while a provider is down (it pings it), and each run alerted again: an outage
    of an hour was 60 ERROR alerts. Two runs of the outage alert once; once the rule serves again
    and then goes down again, that is a new outage, alerted again."""
    from halo_platform.definitions import defs

    job = defs.resolve_job_def("autopilot_job")
    instance = dg.DagsterInstance.ephemeral()
    for provider in ("sms_a", "sms_b"):
        set_manual(sandbox.config(), provider, True, "ops", "maintenance", halo_store)
    for _ in range(2):
        assert job.execute_in_process(instance=instance).success
    assert _titles(halo_env, "every provider is down") == ["every provider is down for sms/*/*"]
    set_manual(sandbox.config(), "sms_a", False, "ops", "back", halo_store)
    assert job.execute_in_process(instance=instance).success  # sms_a answers its health call: ramps up
    assert _titles(halo_env, "every provider is down") == ["every provider is down for sms/*/*"]
    set_manual(sandbox.config(), "sms_a", True, "ops", "maintenance again", halo_store)
    assert job.execute_in_process(instance=instance).success
    assert _titles(halo_env, "every provider is down") == ["every provider is down for sms/*/*"] * 2


def test_queued_messages_no_provider_can_take_are_alerted_once_not_at_every_autopilot_tick(providers_file, halo_store, halo_env):  # noqa: F811
    """The same for a route no provider serves: the autopilot runs every minute while such messages
    wait (`autopilot_work`), and each run alerted them again."""
    from halo_platform.definitions import defs
    from halo_platform.delivery.service import submit

    providers = providers_file({"sb": {"kind": "sandbox", "channel": "sms", "countries": ["FR"]}},
                               [{"channel": "sms", "country": "FR", "weights": {"sb": 1}}])
    submit("sms", {"to": "+4915112345678", "body": "hallo", "priority": "LOW"}, store=halo_store, providers=providers)
    job = defs.resolve_job_def("autopilot_job")
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        assert job.execute_in_process(instance=instance).success
    assert _titles(halo_env, "queued messages") == ["queued messages no provider can take: sms to DE (TEXT)"]


def test_a_schedule_naming_a_sink_gone_from_the_sinks_file_is_skipped_and_alerted_once_not_queued_to_fail_each_tick(
        halo_env, store, sinks_file, monkeypatch):  # noqa: F811
    """A schedule's sinks are checked when it is edited, not when it runs: once `partner` was taken
    out of the sinks file, every tick of the schedule queued a run that failed at delivery, and each
    failed run alerted (a `*/5` schedule: an ERROR alert every 5 minutes, and a FAILED request each).
    Its run no longer builds, as for a retired task: skipped, alerted once, its tick owed until the
    sink is back."""
    folders = {name: {"kind": "folder", "path": str(Path(halo_env["HALO_HOME"], name))} for name in ("outbox", "alerts", "partner")}
    sinks_file(folders)
    set_schedule(store, "s", task="campaign_alerts", cron="*/5 * * * *", timezone="UTC", sinks=["outbox", "partner"])
    sinks_file({k: v for k, v in folders.items() if k != "partner"})
    evaluate, hour = ScheduleSensor(store, monkeypatch), next_hour()
    for step in (10, 40, 5 * 60 + 10):
        assert evaluate(hour + dt.timedelta(seconds=step)) == []
    (alert,) = alerts_sent()
    assert alert["title"] == "schedule skipped: s" and alert["error"].startswith("unknown sink(s): partner")
    sinks_file(folders)
    assert evaluate(hour + dt.timedelta(minutes=5, seconds=40)) == [f"s:{(hour + dt.timedelta(minutes=5)).isoformat()}"]
