"""Group availability: `any` and `all` equal a minute-by-minute count of who is free; the
REST and GraphQL answers over processed spans; bad parameters are 4xx JSON."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.availability.group import group_spans
from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import hours_a_week_ahead
from halo_platform_tests.fixtures.access import authorized_client

BASE = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)


def by_minute(spans: dict, mode: str) -> list[tuple[int, int, tuple]]:
    """(first minute, end minute, who) pieces built one minute at a time."""
    pieces: list[list] = []
    for m in range(24 * 60):
        at = BASE + dt.timedelta(minutes=m)
        who = tuple(sorted(p for p, pieces_of in spans.items() if any(s <= at < e for s, e in pieces_of)))
        if not who or (mode == "all" and len(who) < len(spans)):
            continue
        if pieces and pieces[-1][1] == m and pieces[-1][2] == who:
            pieces[-1][1] = m + 1
        else:
            pieces.append([m, m + 1, who])
    return [tuple(p) for p in pieces]


@settings(max_examples=150, deadline=None)
@given(mode=st.sampled_from(["any", "all"]),
       raw=st.dictionaries(st.sampled_from(["A", "B", "C", "D"]),
                           st.lists(st.tuples(st.integers(0, 1400), st.integers(0, 300)), max_size=5), min_size=1))
def test_group_spans_equal_a_minute_by_minute_count(mode, raw):
    spans = {p: [(BASE + dt.timedelta(minutes=s), BASE + dt.timedelta(minutes=min(s + n, 1440))) for s, n in pieces]
             for p, pieces in raw.items()}
    found = [(int((g.start_at - BASE).total_seconds() // 60), int((g.end_at - BASE).total_seconds() // 60), g.provider_ids)
             for g in group_spans(spans, mode)]
    assert found == by_minute(spans, mode)


@pytest.fixture
def three(halo_env, any_store):
    """D1 09:00-12:00, D2 10:00-14:00, D3 11:00-11:30 UTC on one day a week ahead."""
    return hours_a_week_ahead(any_store, [("D1", "09:00", "12:00"), ("D2", "10:00", "14:00"), ("D3", "11:00", "11:30")])


def test_rest_group_any_lists_who_is_free_and_all_when_everyone_is(any_store, three):
    """On SQLite and PostgreSQL."""
    client = authorized_client(create_app({"store": any_store}), "availability:read")
    day = three.isoformat()
    params = {"feed": "acme", "provider_ids": "D1,D2,D3", "from": day, "to": day}
    body = client.get("/v1/availability/group", params=params).json()
    assert [(s["start_at"][11:16], s["end_at"][11:16], s["provider_ids"]) for s in body["spans"]] == [
        ("09:00", "10:00", ["D1"]), ("10:00", "11:00", ["D1", "D2"]), ("11:00", "11:30", ["D1", "D2", "D3"]),
        ("11:30", "12:00", ["D1", "D2"]), ("12:00", "14:00", ["D2"])]
    assert body["mode"] == "any" and body["freshness"]["feed"] == "acme"
    both = client.get("/v1/availability/group", params={**params, "provider_ids": "D1,D2", "mode": "all"}).json()
    assert [(s["start_at"][11:16], s["end_at"][11:16]) for s in both["spans"]] == [("10:00", "12:00")]
    data = client.post("/graphql", json={"query": f'{{ groupAvailability(feed: "acme", providerIds: ["D1", "D3"], mode: ALL, '
                                                  f'from: "{day}", to: "{day}") {{ startAt endAt providerIds }} }}'}).json()
    assert [(g["startAt"][11:16], g["endAt"][11:16], g["providerIds"]) for g in data["data"]["groupAvailability"]] == [
        ("11:00", "11:30", ["D1", "D3"])]


@pytest.mark.parametrize("params, reason", [
    ({"mode": "some"}, "mode must be one of any, all, got 'some'"),
    ({"provider_ids": "D1,,D2"}, "provider_ids: expected a comma-separated list"),
    ({"provider_ids": ",".join(f"P{i}" for i in range(21))}, "at most 20 providers, got 21"),
    ({"from": "2027-02-02", "to": "2027-02-01"}, "before from"),
    ({"feed": "nope"}, "unknown feed"),
    ({"provider_ids": None}, "provider_ids"),
])
def test_bad_group_queries_are_422_json(store, halo_env, params, reason):
    client = authorized_client(create_app({"store": store}), "availability:read")
    query = {k: v for k, v in {"feed": "acme", "provider_ids": "D1,D2", **params}.items() if v is not None}
    answer = client.get("/v1/availability/group", params=query)
    assert answer.status_code == 422 and reason in answer.json()["error"]


def test_group_needs_the_read_scope(store, halo_env):
    client = authorized_client(create_app({"store": store}), "messages:send")
    assert client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "D1"}).status_code == 403


def _fields(count: int, field: str) -> str:
    return "{ " + " ".join(f"a{i}: {field}" for i in range(count)) + " }"


TWENTY = "[" + ", ".join(f'"G{i}"' for i in range(20)) + "]"
WIDEST = f'from: "2027-01-01", to: "{dt.date(2027, 1, 1) + dt.timedelta(days=365)}"'  # the longest range a query takes: 366 dates


@pytest.mark.parametrize("query", [
    _fields(1, f'groupAvailability(feed: "acme", providerIds: {TWENTY}, {WIDEST}) {{ startAt }}'),
    _fields(20, f'availableSpans(feed: "acme", providerId: "G1", {WIDEST}) {{ startAt }}'),
    _fields(20, 'availableSpans(feed: "acme", providerId: "G1") { startAt }'),
    _fields(20, 'nextAvailable(feed: "acme", providerId: "G1", durationMinutes: 30) { startAt }'),
    _fields(20, f'groupAvailability(feed: "acme", providerIds: {TWENTY}) {{ startAt }}'),  # a week each
    _fields(20, 'slots(feed: "acme", providerId: "G1", from: "2027-01-01", to: "2027-01-10") { startAt }'),
])
def test_every_documented_graphql_shape_fits_the_cost_budget(store, halo_env, query):
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": query}).json()
    assert not any("budget" in e["message"] for e in body.get("errors", [])), body


@pytest.mark.parametrize("query, variables, cost", [
    (_fields(20, f'groupAvailability(feed: "acme", providerIds: {TWENTY}, from: "2027-01-01", to: "2027-03-01") {{ startAt }}'),
     None, 20 * 20 * 60),
    (_fields(2, f'groupAvailability(feed: "acme", providerIds: {TWENTY}, {WIDEST}) {{ startAt }}'), None, 2 * 20 * 366),
    ("query Q($ids: [String!]!, $to: Date) { " + " ".join(
        f'a{i}: groupAvailability(feed: "acme", providerIds: $ids, from: "2027-01-01", to: $to) {{ startAt }}' for i in range(3)) + " }",
     {"ids": [f"G{i}" for i in range(20)], "to": "2027-07-01"}, 3 * 20 * 182),
    (f'fragment F on Query {{ x: groupAvailability(feed: "acme", providerIds: {TWENTY}, {WIDEST}) {{ startAt }} }} '
     + _fields(19, 'nextAvailable(feed: "acme", providerId: "G1", durationMinutes: 30) { startAt }')[:-1] + "...F }",
     None, 19 * 366 + 20 * 366),
])
def test_a_graphql_request_over_the_cost_budget_is_refused_naming_it(store, halo_env, query, variables, cost):
    """20 aliases of 20 providers over 60 days took 1.6 s of CPU and 3.5 MB (7 s and 19 MB over a
    year) within one request: the work is bounded before any resolver runs."""
    from halo_platform.availability.api import MAX_QUERY_COST

    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert body["data"] is None and body["errors"][0]["message"] == (
        f"query too costly: it asks for {cost} provider-days (providers x local days, a day of slots weighed by its alignment, "
        "summed over its fields), "
        f"the budget is {MAX_QUERY_COST}"), body


@pytest.mark.parametrize(("alignment", "weight"), [(14, 2), (7, 3), (5, 3), (1, 15)])  # 15 and above: 1, covered above
def test_a_day_of_slots_weighs_by_the_starts_its_alignment_puts_in_it(store, halo_env, tmp_path, monkeypatch, alignment, weight):
    """The budget counted a day of slots as one provider-day whatever the feed's alignment: at 1
    minute, a day has 15 times the starts of the default 15 (a provider-year: 164,615 slots and
    0.77 s instead of 11,315 and 0.08 s), so 20 aliases over a year passed the budget."""
    from halo_platform.availability.api import MAX_QUERY_COST

    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(f"feeds:\n  fine:\n    format: acme\n    slot_rules: {{default: {{alignment_minutes: {alignment}}}}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    client = authorized_client(create_app({"store": store}), "availability:read")
    days = MAX_QUERY_COST // (20 * weight)  # 20 aliases of that many days: within the budget, one day more is not
    for span, refused in ((days, False), (days + 1, True)):
        last = dt.date(2027, 1, 1) + dt.timedelta(days=span - 1)
        body = client.post("/graphql", json={"query": _fields(20, f'slots(feed: "fine", providerId: "G1", from: "2027-01-01", to: "{last}") '
                                                                 "{ startAt }")}).json()
        errors = [e["message"] for e in body.get("errors", [])]
        assert any(m.startswith(f"query too costly: it asks for {20 * span * weight} provider-days") for m in errors) == refused, (span, body)


@pytest.mark.parametrize("value", [["x"], {"a": 1}, 5])
def test_a_slots_variable_of_the_wrong_type_is_graphqls_own_error_not_an_internal_one(store, halo_env, tmp_path, monkeypatch, caplog, value):
    """The cost check reads the arguments before graphql-core coerces the variables: a list as
    `type` raised TypeError there: its answer was "unhashable type: 'list'"."""
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text("feeds:\n  fine:\n    format: acme\n    slot_rules: {default: {alignment_minutes: 5}}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    client = authorized_client(create_app({"store": store}), "availability:read")
    body = client.post("/graphql", json={"query": 'query Q($t: String) { slots(feed: "fine", providerId: "G1", type: $t) { startAt } }',
                                         "variables": {"t": value}}).json()
    assert body["errors"][0]["message"].startswith("Variable '$t' got invalid value"), body
    assert "unhashable" not in caplog.text and "TypeError" not in caplog.text
