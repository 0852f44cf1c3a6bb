"""Review of the sinks behind report tasks and alerts: settings no delivery can work with are refused
when the sink is built (so `halo` warns of an alert sink no alert reaches), and a failure no retry fixes
is one permanent failure saying why."""

from __future__ import annotations

from halo_platform.alerts.send import alert_sinks
from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource


def test_an_empty_slack_or_webhook_url_is_refused_when_the_sink_is_built(sinks_file, monkeypatch):
    """`ops_slack: {kind: slack, webhook_url: "${SLACK_WEBHOOK_URL}"}` with the variable set to nothing
    (and a webhook's `url: ""`) built a sink: `alert_sinks` called it usable, so `halo` did not warn that
    HALO_ALERTS names a sink no alert reaches, and each alert then failed at its post ('the URL is not a
    valid http(s) URL'). Such a URL is now refused when the sink is built, naming the setting, as an
    empty folder path or webhook secret is."""
    sinks_file({"ops_slack": {"kind": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}"},
                "hook": {"kind": "webhook", "url": "  ", "secret": "s3cret"}})
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "")
    sinks = SinksResource()
    assert alert_sinks(sinks, ["ops_slack", "hook"]) == ([], [
        "ops_slack: sink 'ops_slack' (slack): invalid settings: webhook_url: Value error, empty",
        "hook: sink 'hook' (webhook): invalid settings: url: Value error, empty"])
    outcomes = deliver_all(sinks, ["ops_slack", "hook"], Delivery("alert", "over budget"))
    assert [(o.sink, o.status, o.attempts, o.permanent, o.detail) for o in outcomes] == [
        ("ops_slack", "FAILED", 0, True, "unusable: sink 'ops_slack' (slack): invalid settings: webhook_url: Value error, empty"),
        ("hook", "FAILED", 0, True, "unusable: sink 'hook' (webhook): invalid settings: url: Value error, empty")]

