"""A sink's size limit and link store are checked with the sinks file, as its kind and keys are:
a request or schedule naming the sink is refused in one line (the CLI's `error:`, the API's 422)
naming the sink and the setting, and nothing is queued. Found at delivery, a negative
`max_file_bytes` made every file "too large" and a `link_store` that is no sink of the file (or
one that serves no links) failed the run that first had a file over the limit."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.reports.assets import deliver_all
from halo_platform.sinks import Delivery, SinksResource
from halo_platform_tests.fixtures.access import authorized_client

MAIL = {"kind": "email", "host": "127.0.0.1", "sender": "reports@example.com", "to": ["finance@example.com"]}


def refused(tmp_path, monkeypatch, sinks: dict, name: str = "mail") -> str:  # noqa: ANN001
    """The one error line a request naming sink `name` of a sinks file holding `sinks` gets, from
    the CLI (exit 2) and the API (422, its `error`), both the same."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": sinks}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(path))
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--sink", name])
    assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
    answer = authorized_client(create_app()).post("/v1/tasks/payment_reconciliation/requests", json={"sinks": [name]})
    assert answer.status_code == 422, answer.text
    assert result.output == f"error: {answer.json()['error']}\n"
    return answer.json()["error"]


@pytest.mark.parametrize("kind", ["email", "folder"])
def test_a_negative_max_file_bytes_is_refused_when_a_request_names_the_sink(kind, halo_env, tmp_path, monkeypatch):
    """`max_file_bytes: -1` was taken: every file was then over it, sent as a link or failing the
    delivery. It is refused with the file, naming the sink and the setting."""
    settings = MAIL if kind == "email" else {"kind": "folder", "path": str(tmp_path / "out")}
    error = refused(tmp_path, monkeypatch, {"mail": {**settings, "max_file_bytes": -1}})
    assert error == f"sink 'mail' ({kind}): invalid settings: max_file_bytes: Input should be greater than or equal to 0"


def test_a_negative_max_file_bytes_is_the_sinks_failure_when_it_delivers(tmp_path, report_file):
    """A file edited after the request was checked: the sink is refused when built, as any setting of
    its kind is, and nothing is written."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"out": {"kind": "folder", "path": str(tmp_path / "out"), "max_file_bytes": -1}}}))
    (outcome,) = deliver_all(SinksResource(sinks_file=str(path)), ["out"], Delivery("report", files=[report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True)
    assert outcome.detail == "unusable: sink 'out' (folder): invalid settings: max_file_bytes: Input should be greater than or equal to 0"
    assert not (tmp_path / "out").exists()


def test_a_max_file_bytes_of_0_sends_every_file_as_a_link(tmp_path, report_file):
    """0 is a limit, not an error: no file is carried, each goes to the link store."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {
        "out": {"kind": "folder", "path": str(tmp_path / "out"), "max_file_bytes": 0, "link_store": "links"},
        "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}}}))
    sinks = SinksResource(sinks_file=str(path))
    sinks.validate_names(["out"])
    outcome = sinks.deliver("out", Delivery("report", files=[report_file]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert (tmp_path / "served" / report_file.name).read_bytes() == report_file.read_bytes()
    assert not (tmp_path / "out" / report_file.name).exists()


def test_a_link_store_that_is_no_sink_of_the_file_is_refused_when_a_request_names_the_sink(halo_env, tmp_path, monkeypatch):
    """`link_store: archve` (a typo) was found only when a file first went over the limit, failing
    that run. The request is refused, naming the sink, its link store and the sinks there are."""
    error = refused(tmp_path, monkeypatch, {"mail": {**MAIL, "link_store": "archve"},
                                            "archive": {"kind": "s3", "bucket": "reports"}})
    assert error == "sink 'mail': link_store 'archve' is not a sink of the sinks file; known: archive, mail"


@pytest.mark.parametrize(("store", "why"), [
    ({"kind": "folder", "path": "/srv/big"}, "folder sink has no url: it cannot serve links"),
    ({**MAIL, "to": ["other-team@example.com"]}, "a email sink cannot serve links"),
])
def test_a_link_store_that_cannot_serve_links_is_refused_when_a_request_names_the_sink(store, why, halo_env, tmp_path, monkeypatch):
    """A link store of a kind that serves no links (an email sink, a folder without `url`) failed
    the run that first had a file over the limit; the request is refused, saying why."""
    error = refused(tmp_path, monkeypatch, {"mail": {**MAIL, "link_store": "store"}, "store": store})
    assert error == f"sink 'mail': link_store 'store': {why}"


def test_sinks_whose_link_store_serves_links_are_taken(halo_env, tmp_path):
    """An s3 sink, a folder with a `url`, and settings given as `${VAR}` (read when the sink delivers) pass the check."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {
        "mail": {**MAIL, "max_file_bytes": 1000, "link_store": "archive"},
        "hook": {"kind": "webhook", "url": "https://example.com/h", "secret": "${HOOK_SECRET}", "link_store": "served"},
        "env": {**MAIL, "max_file_bytes": "${MAX_FILE_BYTES}", "link_store": "archive"},
        "archive": {"kind": "s3", "bucket": "reports"},
        "served": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}}}))
    sinks = SinksResource(sinks_file=str(path))
    sinks.validate_names(sinks.names())


@pytest.mark.parametrize("value", [True, 1.5, 1.0, "10"])
def test_a_max_file_bytes_that_is_not_a_whole_number_is_refused_when_a_request_names_the_sink(value, halo_env, tmp_path,
                                                                                             monkeypatch):
    """`max_file_bytes: true` (a YAML boolean) was taken as 1 and a quoted "10" as 10 (pydantic's lax
    int), `1.0` as 1: a limit nobody wrote, under which every file went as a link. Each is refused
    with the file, as a negative one is."""
    error = refused(tmp_path, monkeypatch, {"mail": {**MAIL, "max_file_bytes": value}})
    assert error == "sink 'mail' (email): invalid settings: max_file_bytes: Input should be a valid integer"


@pytest.mark.parametrize("value", [True, "10"])
def test_a_max_file_bytes_that_is_not_a_whole_number_is_the_sinks_failure_when_it_delivers(value, tmp_path, report_file):
    """A file edited after the request was checked: the sink is refused when built, and nothing is written."""
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {"out": {"kind": "folder", "path": str(tmp_path / "out"), "max_file_bytes": value}}}))
    (outcome,) = deliver_all(SinksResource(sinks_file=str(path)), ["out"], Delivery("report", files=[report_file]))
    assert (outcome.status, outcome.permanent) == ("FAILED", True)
    assert outcome.detail == "unusable: sink 'out' (folder): invalid settings: max_file_bytes: Input should be a valid integer"
    assert not (tmp_path / "out").exists()


def test_a_max_file_bytes_from_the_environment_is_read_as_a_number(tmp_path, report_file, monkeypatch):
    """`${VAR}` is text read from the environment when the sink is built: its digits are the limit,
    and a file over it goes as a link."""
    monkeypatch.setenv("OUT_MAX_FILE_BYTES", "10")
    path = tmp_path / "sinks.yaml"
    path.write_text(yaml.safe_dump({"sinks": {
        "out": {"kind": "folder", "path": str(tmp_path / "out"), "max_file_bytes": "${OUT_MAX_FILE_BYTES}", "link_store": "links"},
        "links": {"kind": "folder", "path": str(tmp_path / "served"), "url": "https://files.example.com/r/"}}}))
    sinks = SinksResource(sinks_file=str(path))
    sinks.validate_names(["out"])
    assert sinks.get("out").max_file_bytes == 10
    assert sinks.deliver("out", Delivery("report", files=[report_file])).status == "DELIVERED"
    assert (tmp_path / "served" / report_file.name).read_bytes() == report_file.read_bytes()
