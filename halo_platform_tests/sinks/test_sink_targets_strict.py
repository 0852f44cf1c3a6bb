"""What a sink shows of its settings: a URL it cannot post to is that sink's one clear, permanent
failure (not an exception named by its type and retried with the run), and a webhook URL whose
path is its secret (Slack's `/services/T…/B…/<token>`) is shown masked wherever its target goes
(task_deliveries, the Requests page, `halo tasks log`)."""

from __future__ import annotations

import pytest
import yaml

from halo_platform.lab.fakehttp import FakeHTTPServer
from halo_platform.sinks import Delivery, SinksResource

WEBHOOK_SECRET = "whsec-strict-7d1e"


def resource(tmp_path, sinks: dict) -> SinksResource:  # noqa: ANN001
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    return SinksResource(sinks_file=str(path), attempts=3, backoff=[0.01])


@pytest.mark.parametrize(("path", "shown"), [
    ("/services/T000/B000/XXXXSECRET", "/services/***"),
    ("/XXXXSECRET", "/***"),  # a path of one segment is all secret
    ("/hooks/XXXXSECRET?token=abc#frag", "/hooks/***"),
])
def test_a_webhook_target_shows_its_url_with_the_secret_path_masked(http_fake: FakeHTTPServer, path, shown, tmp_path):
    """The target is recorded in task_deliveries and shown on the Requests page and by `halo tasks
    log`: anyone holding a Slack-style webhook URL can post to it, so its token is never shown."""
    http_fake.add_route("POST", path.partition("?")[0], lambda request: (200, "ok"))
    url = http_fake.url.replace("://", "://halo:pw-XXXXSECRET@") + path
    sinks = resource(tmp_path, {"hook": {"kind": "webhook", "url": url, "secret": WEBHOOK_SECRET},
                                "slack": {"kind": "slack", "webhook_url": url}})
    hook, slack = (sinks.deliver(name, Delivery("alert", "over budget")) for name in ("hook", "slack"))
    assert (hook.status, slack.status) == ("DELIVERED", "DELIVERED"), (hook.detail, slack.detail)
    assert hook.targets == [f"{http_fake.url}{shown}"]
    assert slack.targets == ["slack://127.0.0.1"]
    assert "XXXXSECRET" not in repr([hook, slack]) and "abc" not in repr([hook, slack])
