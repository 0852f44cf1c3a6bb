"""Control Center pages at their edges: a schedule whose task was retired, the next runs across a
DST fall-back, a provider switch for a provider gone from the file, a schedule saved unchanged
(each test failed before its fix)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.store import StoreResource
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.reports import schedules as report_schedules
from halo_platform.reports.schedules import due_ticks, schedule_edits, schedules_t, set_schedule
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import signed_in_client

PASSWORD = "a long enough password"


@pytest.fixture
def store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    made = StoreResource(db_url=halo_env["HALO_DB_URL"])
    for name, role in (("ada", "admin"), ("otto", "operator")):
        users.create_user(made, name, role, PASSWORD)
    set_schedule(made, "weekly", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    yield made
    made.dispose()


@pytest.fixture
def app(store: StoreResource) -> Iterator:
    providers = ProvidersResource()
    yield create_app({"store": store, "providers": providers, "sinks": SinksResource()})
    providers.close()


@pytest.fixture
def admin(app) -> TestClient:  # noqa: ANN001
    return signed_in_client(app, "ada", PASSWORD)


@pytest.fixture
def operator(app) -> TestClient:  # noqa: ANN001
    return signed_in_client(app, "otto", PASSWORD)


class _Forms(HTMLParser):
    """Each <form>'s fields as a browser submits them: {action: {name: [values]}}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, list[str]]] = {}
        self._current: dict[str, list[str]] | None = None
        self._select: list | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self._current = self.forms.setdefault(a.get("action") or "", {})
        elif self._current is None:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._current.setdefault(a["name"], []).append(a.get("value") or "on")
            elif kind not in ("submit", "button"):
                self._current.setdefault(a["name"], []).append(a.get("value") or "")
        elif tag == "select":
            self._select = [a.get("name"), None, None]
        elif tag == "option" and self._select is not None:
            if self._select[2] is None:
                self._select[2] = a.get("value") or ""
            if "selected" in a:
                self._select[1] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None
        elif tag == "select" and self._select is not None and self._current is not None:
            name, chosen, first = self._select
            self._current.setdefault(name, []).append(chosen if chosen is not None else first or "")
            self._select = None


def _form(page: str, action: str) -> dict[str, list[str]]:
    return _Forms(page).forms[action]


def _alerts(page: str) -> list[str]:
    """Every error the page shows a person (beside a field, or for the whole form)."""
    return [t.strip() for t in re.findall(r'role="alert"[^>]*>([^<]+)<', page) if t.strip()]


def _html(answer, status: int) -> str:  # noqa: ANN001 - httpx's Response
    assert (answer.status_code, answer.headers.get("content-type", "")[:9]) == (status, "text/html"), \
        (answer.status_code, answer.headers.get("content-type"), answer.text[:300])
    return answer.text


# --- a schedule whose task was retired -----------------------------------------------------------

def _retire_task(store: StoreResource) -> None:
    """The schedule row as it stays once its task's module is removed in a deploy."""
    with store.write() as conn:
        conn.execute(schedules_t.update().where(schedules_t.c.schedule_id == "weekly").values(task="retired_report"))


def test_a_schedule_whose_task_was_retired_still_has_a_page(store: StoreResource, admin: TestClient) -> None:
    """The Schedules list links to it; its page must be a page (not the API's bare JSON) saying why."""
    _retire_task(store)
    listing = _html(admin.get("/ui/schedules"), 200)
    assert 'href="/ui/schedules/weekly"' in listing
    page = admin.get("/ui/schedules/weekly")
    assert page.headers["content-type"].startswith("text/html"), (page.status_code, page.text[:200])
    assert "retired_report" in page.text
    saved = admin.post("/ui/schedules/weekly", data={"csrf_token": admin.csrf, "cron": "0 7 * * 1", "timezone": "UTC",
                                                      "sinks": "outbox", "catch_up": "latest"})
    text = _html(saved, 422)
    assert any("retired_report" in alert for alert in _alerts(text)), _alerts(text)
    assert report_schedules.list_schedules(store)[0]["cron"] == "0 6 * * 1"  # nothing saved


# --- the preview of the next runs across a DST fall-back -----------------------------------------

def test_the_preview_does_not_list_a_run_the_scheduler_will_not_make(admin: TestClient, monkeypatch) -> None:  # noqa: ANN001
    """01:30 happens twice in New York on 2026-11-01 (EDT, then EST); the sensor runs a daily
    01:30 schedule once that day (`due_ticks` skips the repeated wall-clock time), so the
    "next 5 run times" the page shows must not list a second run at 01:30 EST."""
    now = dt.datetime(2026, 10, 30, 12, tzinfo=dt.UTC)
    monkeypatch.setattr(report_schedules, "utcnow", lambda: now)
    page = _html(admin.get("/ui/schedules/weekly/preview", params={"cron": "30 1 * * *", "timezone": "America/New_York"}), 200)
    shown = re.findall(r"\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d \w+)", page)
    real = [t.strftime("%Y-%m-%d %H:%M %Z") for t in due_ticks("30 1 * * *", "America/New_York", now, now + dt.timedelta(days=6))][:5]
    assert shown == real, shown


# --- a provider switch that names no provider on the page -----------------------------------------

def test_switching_a_provider_no_longer_configured_says_why(admin: TestClient) -> None:
    """The page was opened before the provider left the providers file (or the form was sent by
    hand): the 422 page must say what went wrong, not show the page unchanged with no error."""
    page = _html(admin.post("/ui/providers/switch", data={"csrf_token": admin.csrf, "provider": "retired_sms",
                                                           "state": "off", "reason": "maintenance"}), 422)
    assert any("retired_sms" in alert for alert in _alerts(page)), _alerts(page)


# --- saving a schedule unchanged --------------------------------------------------------------------

def test_saving_a_schedule_unchanged_records_no_edit(store: StoreResource, operator: TestClient) -> None:
    """A schedule set by the CLI (sinks in its order, an amount as typed): opening its page and
    pressing Save must not add an edit (before -> after) to its history."""
    set_schedule(store, "weekly", payload={"tolerance": "2.5"}, sinks=["outbox", "alerts"], updated_by="cli")
    edits = len(schedule_edits(store, "weekly"))
    form = _form(_html(operator.get("/ui/schedules/weekly"), 200), "/ui/schedules/weekly")
    assert operator.post("/ui/schedules/weekly", data=form).status_code == 303
    last = schedule_edits(store, "weekly")[0]
    assert len(schedule_edits(store, "weekly")) == edits, (last["changed"], last["before"], last["after"])
    with store.read() as conn:
        row = conn.execute(sa.select(schedules_t.c.sinks, schedules_t.c.payload)).one()
    assert (row.sinks, row.payload) == (["outbox", "alerts"], {"tolerance": "2.50"})  # the amount stored as the form shows it


def test_a_quarantined_records_raw_text_is_masked_before_it_is_cut(store: StoreResource, admin: TestClient) -> None:
    """The availability page cut a quarantined record's raw text at 160 characters, then masked
    it: an address the cut went through was none for the masks, and its first part was shown."""
    from halo_platform.availability.tables import EmrQuarantine

    head = "PID|1||MRN0042^^^HOSP||DOE^JANE^A||19800101|F|||12 RUE DE LA PAIX^^PARIS^^75002^FR||"
    raw = head + "x" * (160 - len(head) - len("|jane.doe@hosp")) + "|jane.doe@hospital.example.org|||"
    with store.write() as conn:
        conn.execute(sa.insert(EmrQuarantine), [{"feed": "hl7", "file": "siu_0001.hl7", "position": 3,
                                                 "reason": "unknown status 'XX'", "raw": raw}])
    page = admin.get("/ui/availability", params={"feed": "hl7"})
    assert page.status_code == 200 and "siu_0001.hl7" in page.text
    assert "jane.doe" not in page.text and "j***@hosp" in page.text


def test_a_callback_that_came_after_a_later_status_is_marked_in_the_timeline(store: StoreResource, admin: TestClient) -> None:
    """An event stored `overtaken` (a provider's `sent` after its `delivered`) changed nothing: the
    timeline says so beside it, and only beside it."""
    from halo_platform.delivery.service import enqueue_many
    from halo_platform.delivery.tables import Message, MessageEvent

    enqueue_many("sms", [{"to": "+33612345678", "body": "b", "priority": "LOW"}], store=store, providers=ProvidersResource())
    with store.write() as conn:
        message_id = conn.execute(sa.select(Message.__table__.c.id)).scalar_one()
        conn.execute(MessageEvent.__table__.insert(), [
            {"message_id": message_id, "event": "received", "provider": "tw", "at": dt.datetime(2026, 1, 1, 9, 0, 1, tzinfo=dt.UTC),
             "overtaken": False},
            {"message_id": message_id, "event": "delivered", "provider": "tw", "at": dt.datetime(2026, 1, 1, 9, 0, 2, tzinfo=dt.UTC),
             "overtaken": True}])
    page = admin.get(f"/ui/messages?q={message_id}")
    assert page.status_code == 200
    items = re.findall(r"<li><time.*?</li>", page.text, re.S)
    marked = [re.search(r'class="badge (\w+)"', item).group(1) for item in items if "arrived after a later status: no change" in item]
    assert (len(items), marked) == (3, ["delivered"]), items


@pytest.mark.parametrize(("page", "form", "said"), [
    ("/ui/access", ("/ui/access/users", {"name": "newcomer", "role": "viewer", "password": PASSWORD, "password_again": PASSWORD}),
     "Done: user newcomer created."),
    ("/ui/routing", ("/ui/routing/edit", {"rule": "sms/*/TEXT", "weight.sandbox_sms_a": "3", "weight.sandbox_sms_b": "1", "reason": "r"}),
     "Saved sms/*/TEXT."),
    ("/ui/schedules/weekly", ("/ui/schedules/weekly", {"cron": "0 8 * * 1", "timezone": "UTC", "sinks": "outbox", "catch_up": "latest",
                                                       "enabled": "on"}), "Saved: effective at the next sensor tick."),
])
def test_a_page_says_what_a_form_did_once_and_no_link_can_make_it_say_so(admin: TestClient, page: str, form: tuple, said: str) -> None:
    """What a form did used to travel in the address (`?done=`, `?saved=`): a link could make an
    admin's page say "Done: <anything>". It is said once, after the form, and only then."""
    for query in ("?done=key%20ops%20rotated%3B%20call%20%2B1%20555%200100", "?saved=everything", "?saved=1"):
        shown = admin.get(page + query)
        assert shown.status_code == 200 and "Done:" not in shown.text and 'id="saved"' not in shown.text, query
    path, data = form
    sent = admin.post(path, data={"csrf_token": admin.csrf, **data})
    assert sent.status_code == 303, sent.text[:300]
    back = admin.get(sent.headers["location"])
    assert said in back.text.replace("\n", " ")
    assert said not in admin.get(sent.headers["location"]).text.replace("\n", " ")  # once
