"""Review of message submission inputs: one meaning per field on every entry point (HTTP,
Python's `send_sms`/`send_email`, `halo delivery send`). An optional field given as an empty
string is a value left blank, refused with 422 and nothing stored, as the CLI refused
`--country ''` (HTTP and Python had read it as absent, and refused `capability: ""`). A phone
number with an extension is refused: the extension was dropped and the SMS went to the base number.
A push `to` of separators alone (`--------`) is no device token nor external id: refused. Quiet
hours in the providers file are local times H:MM or HH:MM (24:00 is midnight): `9:00` is taken,
`0900`, `21` or `09:00,5` are one clear line naming the setting."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.delivery import send_email, send_push, send_sms
from halo_platform.delivery.config import load_config
from halo_platform.delivery.quiet_hours import QuietHours
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def client(providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({c: {"kind": "sandbox", "channel": c} for c in ("sms", "email", "push")})
    return authorized_client(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


def stored() -> tuple[int, int]:
    with STORE.read() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(MessageEvent)).scalar_one())


SMS = {"to": "+33612345678", "body": "your results are ready"}
EMAIL = {"to": "ada@example.com", "subject": "Results", "body": "They are ready."}
# the optional fields a request may leave out (each then has its default), by channel
LEFT_BLANK = [("sms", "country"), ("sms", "capability"), ("sms", "priority"), ("sms", "expires_at"), ("sms", "timezone"),
              ("sms", "callback_url"), ("email", "html"), ("email", "country")]


@pytest.mark.parametrize(("channel", "field"), LEFT_BLANK)
def test_an_optional_field_left_blank_is_422_over_http_and_nothing_is_stored(client, channel, field):  # noqa: ANN001
    """`{"country": ""}` was read as no country (and `""` expires_at, timezone, callback_url, html
    as absent) while `{"capability": ""}` was refused: one request, two readings of a blank."""
    payload = {**(SMS if channel == "sms" else EMAIL), field: ""}
    answer = client.post(f"/v1/messages/{channel}", json=payload)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == f"{field}: must not be empty (leave the field out instead)"
    assert stored() == (0, 0)


@pytest.mark.parametrize("html", ["   ", "\u200b", " \u00a0\t"])
def test_an_html_part_of_blanks_is_422_as_an_empty_one_is(client, html):  # noqa: ANN001
    """`"html": ""` is refused, but blanks or a zero-width space were read as no html part and the
    email queued without it: the same blank, two readings."""
    answer = client.post("/v1/messages/email", json={**EMAIL, "html": html})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "html: must not be empty (leave the field out instead)"
    assert stored() == (0, 0)


@pytest.mark.parametrize("field", ["country", "capability", "priority", "expires_at", "timezone"])
def test_python_send_sms_refuses_an_optional_field_left_blank_as_http_does(client, field):  # noqa: ANN001
    with pytest.raises(HaloError, match=rf"^{field}: must not be empty \(leave the field out instead\)$"):
        send_sms(SMS["to"], SMS["body"], **{field: ""})
    with pytest.raises(HaloError, match=r"^html: must not be empty \(leave the field out instead\)$"):
        send_email(EMAIL["to"], EMAIL["subject"], EMAIL["body"], html="")
    assert stored() == (0, 0)


@pytest.mark.parametrize(("channel", "option"), [("sms", "--country"), ("sms", "--capability"), ("sms", "--expires-at"),
                                                 ("sms", "--timezone"), ("email", "--html"), ("email", "--country")])
def test_the_cli_refuses_an_option_left_blank_in_one_line_as_http_does(client, channel, option):  # noqa: ANN001
    fields = SMS if channel == "sms" else EMAIL
    args = ["delivery", "send", channel, *(a for name, value in fields.items() for a in (f"--{name}", value)), option, ""]
    refused = CliRunner().invoke(cli, args)
    assert refused.exit_code == 2, refused.output
    lines = refused.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "empty" in lines[0], refused.output
    assert stored() == (0, 0)


def test_a_field_left_out_or_null_still_takes_its_default(client):  # noqa: ANN001
    answer = client.post("/v1/messages/sms", json={**SMS, "country": None, "capability": None, "timezone": None})
    assert answer.status_code == 202, answer.text
    assert send_sms(SMS["to"], SMS["body"], country=None)["status"] == "queued"
    assert stored() == (2, 2)


EXTENSIONS = ["+33612345678 ext. 12", "+33612345678;ext=12", "+33612345678x12", "tel:+33612345678;ext=12", "+33 6 12 34 56 78 #12"]
EXTENSION_REFUSED = "to: an SMS cannot reach an extension; give the number without it"


@pytest.mark.parametrize("to", EXTENSIONS)
def test_a_phone_number_with_an_extension_is_422_over_http_not_sent_to_the_base_number(client, to):  # noqa: ANN001
    """phonenumbers reads `ext. 12` apart from the number; the extension was dropped and the SMS
    queued for +33612345678, a line that may be a switchboard's, not the person's."""
    answer = client.post("/v1/messages/sms", json={**SMS, "to": to, "priority": "HIGH"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == EXTENSION_REFUSED
    assert stored() == (0, 0)


def test_python_the_cli_and_an_opt_out_refuse_an_extension_as_http_does(client):  # noqa: ANN001
    with pytest.raises(HaloError, match=f"^{re.escape(EXTENSION_REFUSED)}$"):
        send_sms("06 12 34 56 78 ext 12", SMS["body"], country="FR")
    refused = CliRunner().invoke(cli, ["delivery", "send", "sms", "--to", "+33612345678 ext. 12", "--body", SMS["body"]])
    assert refused.exit_code == 2 and refused.output.splitlines() == [f"error: {EXTENSION_REFUSED}"], refused.output
    opt_out = client.post("/v1/suppressions", json={"channel": "sms", "to": "+33612345678;ext=12"})
    assert opt_out.status_code == 422 and opt_out.json()["error"] == EXTENSION_REFUSED, opt_out.text
    assert stored() == (0, 0)


@pytest.mark.parametrize("to", ["+33612345678;isub=12", "tel:+33612345678;isub=1234"])
def test_a_phone_number_with_a_subaddress_is_422_not_sent_to_the_base_number(client, to):  # noqa: ANN001
    """phonenumbers drops an RFC 3966 subaddress (`;isub=`) as it read an extension apart: the SMS
    was queued for +33612345678, a line that may serve several terminals."""
    answer = client.post("/v1/messages/sms", json={**SMS, "to": to, "priority": "HIGH"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "to: an SMS cannot reach a subaddress (;isub=); give the number without it"
    assert stored() == (0, 0)


TOKEN_REFUSED = "to: must be a device token (8 or more letters, digits, _ : - ., not separators alone)"


@pytest.mark.parametrize("to", ["--------", "........", "::::::::", "________", "-_:.-_:.", "...", " " * 8])
def test_a_push_to_made_of_separators_alone_is_422_over_http(client, to):  # noqa: ANN001
    """An FCM registration token and a OneSignal external_id name a device or a user by letters
    and digits (providers.md); `_ : - .` only separate them. `--------` was queued, then sent to
    a provider that could only refuse it (or, as an external_id, match whoever was given it)."""
    answer = client.post("/v1/messages/push", json={"to": to, "title": "Reminder", "body": "Tomorrow 10:00"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == TOKEN_REFUSED
    assert stored() == (0, 0)


def test_python_the_cli_and_an_opt_out_refuse_a_token_of_separators_and_take_a_real_one(client):  # noqa: ANN001
    with pytest.raises(HaloError, match=f"^{re.escape(TOKEN_REFUSED)}$"):
        send_push("........", "Reminder", "Tomorrow 10:00")
    refused = CliRunner().invoke(cli, ["delivery", "send", "push", "--to=--------", "--title", "t", "--body", "b"])
    assert refused.exit_code == 2 and refused.output.splitlines() == [f"error: {TOKEN_REFUSED}"], refused.output
    opt_out = client.post("/v1/suppressions", json={"channel": "push", "to": "::::::::"})
    assert opt_out.status_code == 422 and opt_out.json()["error"] == TOKEN_REFUSED, opt_out.text
    assert stored() == (0, 0)
    fcm_like = "cXk3:APA91bH-x_y.z" + "0" * 40
    for to in (fcm_like, "user-1234", "_a______"):
        assert send_push(to, "Reminder", "Tomorrow 10:00")["status"] == "queued"


def quiet_hours_file(tmp_path, start: str, end: str = '"08:00"'):  # noqa: ANN001, ANN201
    """A providers file whose SMS quiet hours are written as given (YAML, unquoted unless quoted)."""
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  sms: {kind: sandbox, channel: sms}\nrouting: []\n"
                    f"quiet_hours:\n  sms: {{start: {start}, end: {end}, countries: {{DE: {{start: {start}, end: \"07:00\"}}}}}}\n")
    return path


@pytest.mark.parametrize(("start", "end", "window"), [
    ("9:00", "08:00", QuietHours(dt.time(9), dt.time(8))),
    ('"9:30"', '"8:05"', QuietHours(dt.time(9, 30), dt.time(8, 5))),
    ("09:00:00", "08:00", QuietHours(dt.time(9), dt.time(8))),
    ("21:00", "24:00", QuietHours(dt.time(21), dt.time(0))),
    ("24:00", "06:30", QuietHours(dt.time(0), dt.time(6, 30))),
])
def test_quiet_hours_written_as_local_times_are_those_times(tmp_path, start, end, window):  # noqa: ANN001
    """`9:00` (no leading zero) was refused ("needs start and end as HH:MM local times"), and
    `24:00`, the end of the day as the availability feeds write it, too."""
    config = load_config(quiet_hours_file(tmp_path, start, end))
    assert config.quiet_hours_for("sms", "FR") == window
    assert config.quiet_hours_for("sms", "DE").start == window.start


@pytest.mark.parametrize(("start", "shown"), [
    ("0900", "900"), ('"0900"', "'0900'"), ("2100", "2100"), ("21", "21"), ('"T21:00"', "'T21:00'"), ('"09:00,5"', "'09:00,5'"),
    ("21:00:00.5", "'21:00:00.5'"), ("25:00", "'25:00'"), ("24:30", "'24:30'"), ("9:5", "'9:5'"), ('"21:00Z"', "'21:00Z'"),
    ("'２１:００'", "'２１:００'"), ("null", "None"),
])
def test_quiet_hours_not_written_as_local_times_are_one_line_naming_the_setting(halo_env, tmp_path, monkeypatch, start, shown):  # noqa: ANN001
    """`21` was 21:00 and a quoted `0900` 09:00 while an unquoted `0900` (the number 900) was
    refused; `T21:00`, `09:00,5` (half a second) and `21:00:00.5` were taken, as Python's
    ISO 8601 reader takes them. Each is now refused, saying which setting and what it holds."""
    path = quiet_hours_file(tmp_path, start)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    refused = CliRunner().invoke(cli, ["delivery", "providers"])
    assert refused.exit_code == 2, refused.output
    assert refused.output.splitlines() == [
        f"error: {path}: quiet_hours.sms.countries.DE.start: expected a local time as HH:MM (00:00 to 23:59, 24:00 for midnight), "
        f"got {shown}"]
