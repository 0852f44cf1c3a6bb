"""Ambiguous or differently-cased input reaching the HTTP service (uvicorn on 127.0.0.1), third review.

Pinned here: a GraphQL request naming a key twice (`query`, a variable) or giving a query
parameter twice was read as its last value, where every other JSON route refuses it. A Vonage
receipt or inbound message sent by GET naming a field it reads twice was read as its last value,
where the same by POST is a 400. A Control Center form sent as `Application/X-WWW-Form-Urlencoded`
(media types are case-insensitive) with its right CSRF token was refused 403. A Control Center form
giving a field twice (two roles, two crons) was saved with its last value."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
import yaml

from halo_platform.access import users
from halo_platform.access.keys import list_keys
from halo_platform.core.store import StoreResource
from halo_platform.delivery.providers.vonage import vonage_signature
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.state import weight_history
from halo_platform.delivery.tables import MessageEvent, Suppression
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, vonage_fake, vonage_inbound
from halo_platform.reports.schedules import list_schedules, set_schedule
from halo_platform.sinks import SinksResource
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import bearer, make_key

PASSWORD = "a long enough password"
TYPENAME = "{ __typename }"
ALIASED = "{ other: __typename }"


@pytest.fixture
def http(app) -> Iterator[httpx.Client]:  # noqa: ANN001
    with serving(app) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
        yield client


def assert_refused(answer: httpx.Response, status: int, error: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"error": error, "detail": None}


# -- GraphQL ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "key"), [
    (f'{{"query": "{TYPENAME}", "query": "{ALIASED}"}}', "query"),
    ('{"query": "query($f: String!) { freshness(feed: $f) { feed } }", "variables": {"f": "hl7", "f": "acme"}}', "f"),
    (f'{{"query": "{TYPENAME}", "operationName": null, "operationName": null}}', "operationName"),
])
def test_a_graphql_body_naming_a_key_twice_is_400_naming_it(app, http, raw, key) -> None:  # noqa: ANN001
    """`query` twice ran the last document; a variable given twice ran with its last value (a gateway
    or a log reading the first one saw another request)."""
    answer = http.post("/graphql", content=raw, headers={**bearer(make_key(app, "availability:read")), "content-type": "application/json"})
    assert_refused(answer, 400, f"{key!r} is given twice in one JSON object")


def test_a_graphql_get_giving_a_parameter_twice_is_400_naming_it(app, http) -> None:  # noqa: ANN001
    key = {**bearer(make_key(app, "availability:read")), "accept": "application/json"}
    answer = http.get("/graphql", params=[("query", TYPENAME), ("query", ALIASED)], headers=key)
    assert_refused(answer, 400, "query: given 2 times, the route takes one")
    variables = '{"f": "hl7", "f": "acme"}'
    answer = http.get("/graphql", params={"query": "query($f: String!) { freshness(feed: $f) { feed } }", "variables": variables}, headers=key)
    assert_refused(answer, 400, "'f' is given twice in one JSON object")
    # one of each is answered as before
    answer = http.get("/graphql", params={"query": ALIASED}, headers=key)
    assert answer.status_code == 200 and answer.json() == {"data": {"other": "Query"}}, answer.text


# -- Vonage by GET -------------------------------------------------------------------------------

@pytest.fixture
def vonage(halo_env, tmp_path, monkeypatch) -> Iterator[dict]:  # noqa: ANN001
    """The service over the isolated store with one Vonage provider (the fake), served by uvicorn."""
    fake = vonage_fake().start()
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump({"providers": {"vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fake.url,
                                                         **SECRETS["vonage"], "signature_secret": "sigsecret"}}, "routing": []}))
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    store, providers = StoreResource(db_url=halo_env["HALO_DB_URL"]), ProvidersResource(providers_file=str(path))
    app = create_app({"store": store, "providers": providers})
    try:
        with serving(app) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
            yield {"http": client, "store": store, "key": bearer(make_key(app, "messages:send", "messages:read"))}
    finally:
        providers.close()
        store.dispose()
        fake.close()


def _events(store: StoreResource, message_id: str) -> list[str]:
    with store.read() as conn:
        return list(conn.execute(sa.select(MessageEvent.event).where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)).scalars())


def test_a_signed_vonage_receipt_by_get_naming_its_status_twice_is_400_and_changes_nothing(vonage) -> None:  # noqa: ANN001
    """By GET the query was made a dict first: `status=failed&...&status=delivered` (signed over the
    last) was applied as delivered; the same fields in a POST body are a 400."""
    http, key = vonage["http"], vonage["key"]
    sent = http.post("/v1/messages/sms", json={"to": "+4915123456789", "body": "a", "country": "DE", "priority": "HIGH"}, headers=key)
    assert sent.status_code == 201, sent.text
    view = http.get(f"/v1/messages/{sent.json()['id']}", headers=key).json()
    params = {"msisdn": "4915123456789", "to": "Halo", "messageId": view["provider_message_id"], "status": "delivered", "err-code": "0",
              "client-ref": view["id"], "timestamp": str(int(time.time())), "nonce": "n1"}
    signed = {**params, "sig": vonage_signature("sigsecret", params)}
    before = _events(vonage["store"], view["id"])
    answer = http.get("/v1/callbacks/vo?" + urlencode([("status", "failed"), *signed.items()]))
    assert_refused(answer, 400, "field 'status' given twice")
    assert _events(vonage["store"], view["id"]) == before
    assert http.get("/v1/callbacks/vo?" + urlencode(signed)).json() == {"applied": 1, "duplicates": 0, "unmatched": 0}


def test_a_signed_vonage_inbound_stop_by_get_naming_its_text_twice_is_400_and_opts_nobody_out(vonage) -> None:  # noqa: ANN001
    signed = vonage_inbound("+4915112345678", "STOP", "sigsecret")
    answer = vonage["http"].get("/v1/inbound/vo?" + urlencode([("text", "hello"), *signed.items()]))
    assert_refused(answer, 400, "field 'text' given twice")
    with vonage["store"].read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Suppression)).scalar_one() == 0


# -- The Control Center's CSRF check ---------------------------------------------------------------

def _signed_in(http: httpx.Client, store: StoreResource) -> str:
    """Signs `http` in as the admin ada; her session's CSRF token."""
    users.create_user(store, "ada", "admin", PASSWORD)
    token = re.search(r'name="csrf_token" value="([^"]+)"', http.get("/ui/login").text).group(1)
    done = http.post("/ui/login", data={"name": "ada", "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303, done.text[:300]
    return users.session(store, http.cookies["halo_session"]).csrf_token


@pytest.mark.parametrize("content_type", ["Application/X-WWW-Form-Urlencoded", "APPLICATION/X-WWW-FORM-URLENCODED; charset=UTF-8"])
def test_a_form_whose_media_type_is_not_in_lower_case_is_taken_with_its_csrf_token(http, store, content_type) -> None:  # noqa: ANN001
    """The token was looked for only when the Content-Type began `application/x-www-form-urlencoded`
    as written: the same form in another case was a 403 'nothing was saved' page."""
    csrf = _signed_in(http, store)
    form = {"csrf_token": csrf, "name": "vera", "role": "viewer", "password": PASSWORD, "password_again": PASSWORD}
    answer = http.post("/ui/access/users", content=urlencode(form), headers={"content-type": content_type})
    assert answer.status_code == 303, answer.text[:500]
    assert [u["name"] for u in users.list_users(store)] == ["ada", "vera"]
    # a wrong token in the same case is refused as before
    form = {**form, "csrf_token": "wrong", "name": "bob"}
    assert http.post("/ui/access/users", content=urlencode(form), headers={"content-type": content_type}).status_code == 403
    assert [u["name"] for u in users.list_users(store)] == ["ada", "vera"]


# -- Control Center forms naming a field twice -----------------------------------------------------

@pytest.fixture
def center(store) -> Iterator[httpx.Client]:  # noqa: ANN001
    """The Control Center over the isolated store (with the sinks its task form lists), served by uvicorn."""
    set_schedule(store, "weekly", task="payment_reconciliation", cron="0 6 * * 1", sinks=["outbox"], updated_by="seed")
    providers = ProvidersResource()
    app = create_app({"store": store, "providers": providers, "sinks": SinksResource()})
    try:
        with serving(app) as (host, port), httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as client:
            yield client
    finally:
        providers.close()


def _saved(store: StoreResource) -> tuple:
    """What a form of the Control Center may change."""
    with store.read() as conn:
        requests = conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()
    return (requests, list_schedules(store), weight_history(store), [k["name"] for k in list_keys(store)],
            [(u["name"], u["role"]) for u in users.list_users(store)])


SCHEDULE = [("cron", "0 7 * * 1"), ("timezone", "UTC"), ("sinks", "outbox"), ("catch_up", "latest"), ("enabled", "on")]
TWICE = [  # (form, what it sends: a field the page shows once given twice, the error's field)
    ("/ui/tasks/payment_reconciliation", [("tolerance", "0.01"), ("tolerance", "0.5"), ("sinks", "outbox")], "tolerance"),
    ("/ui/schedules/weekly", [*SCHEDULE, ("cron", "0 8 * * 1")], "cron"),
    ("/ui/schedules/weekly", [*SCHEDULE, ("payload.tolerance", "0.01"), ("payload.tolerance", "0.5")], "payload.tolerance"),
    ("/ui/routing/edit", [("rule", "sms/*/TEXT"), ("weight.sandbox_sms_a", "1"), ("reason", "a"), ("reason", "b")], "reason"),
    ("/ui/routing/new", [("channel", "sms"), ("country", "DE"), ("country", "FR"), ("capability", "*"), ("weight.sandbox_sms_a", "1"),
                         ("reason", "new")], "country"),
    ("/ui/access/users", [("name", "vera"), ("role", "viewer"), ("role", "admin"), ("password", PASSWORD), ("password_again", PASSWORD)],
     "user.role"),
    ("/ui/access/keys", [("name", "ci"), ("scope", "tasks:read"), ("rate", "5"), ("rate", "500")], "key.rate"),
]


@pytest.mark.parametrize(("path", "fields", "field"), TWICE, ids=[f"{p}:{f}" for p, _, f in TWICE])
def test_a_form_giving_a_field_twice_is_refused_beside_it_and_saves_nothing(center, store, path, fields, field) -> None:  # noqa: ANN001
    """A form naming a field twice (`role=viewer&role=admin`, two crons, two values of a payload
    field) was saved with its last value, as if the other had not been sent; the weights of a
    routing rule alone were refused ("given more than once"). Every field a page shows once is now."""
    csrf = _signed_in(center, store)
    before = _saved(store)
    answer = center.post(path, content=urlencode([("csrf_token", csrf), *fields]),
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 422, answer.text[:500]
    beside = re.search(rf'<small id="{re.escape(field)}-error" class="error" role="alert">([^<]*)</small>', answer.text)
    assert beside and beside.group(1) == "given more than once", answer.text
    assert _saved(store) == before
