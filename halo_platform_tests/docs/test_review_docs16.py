"""README statements outside its ```bash blocks, checked against what the platform does."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from halo_platform.access.keys import webhook_secret_of
from halo_platform.core.redact import install_redaction, mask_text
from halo_platform.http import create_app

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_health_answers_503_with_retry_after_and_logs_method_and_path_while_the_store_does_not_answer(halo_env, monkeypatch, caplog):  # noqa: ANN001
    """README (Access): while the store does not answer, "every route answers `503` with `Retry-After: 5`
    ... `/health` its `{"status": "unavailable"}`; the log has one line with the method, path and the
    driver's error class". /health answered 503 without Retry-After (a probe or load balancer was not told
    when to ask again) and logged `health: ...` with neither method nor path."""
    assert "every route\nanswers `503` with `Retry-After: 5`" in README
    assert "`/health` its\n`{\"status\": \"unavailable\"}`; the log has one line with the method, path and the driver's error class" in README
    monkeypatch.setenv("HALO_DB_URL", "postgresql+psycopg://halo:pw-SECRET@127.0.0.1:1/halo")
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        answers = [client.get("/health"), client.head("/health")]
    assert [(a.status_code, a.headers.get("retry-after")) for a in answers] == [(503, "5"), (503, "5")]
    assert answers[0].json()["status"] == "unavailable"
    assert "GET /health: the operational store does not answer (OperationalError)" in caplog.text
    assert "HEAD /health: the operational store does not answer (OperationalError)" in caplog.text
    assert "pw-SECRET" not in caplog.text and "Traceback" not in caplog.text


def test_the_readme_webhook_secret_command_prints_the_secret_that_signs_the_status_webhooks() -> None:
    """README (Status webhooks): the key's webhook secret "is `printf 'halo webhook secret' | openssl dgst
    -sha256 -hmac "$HALO_KEY"`". OpenSSL 3 prints `SHA2-256(stdin)= <hex>`: a receiver that kept what the
    command printed as its secret refused every signature. Every form of the command the README shows
    now prints the secret alone."""
    commands = set(re.findall(r"printf 'halo webhook secret' \| openssl[^`\n]*", README))
    assert commands, "the README shows how to compute the webhook secret"
    key = "halo_0123456789ab_" + "s3cret-" * 6
    for command in commands:
        printed = subprocess.run(["bash", "-c", command], env={"HALO_KEY": key, "PATH": "/usr/bin:/bin"},
                                 capture_output=True, text=True, check=True).stdout
        assert printed == webhook_secret_of(key) + "\n", command


def test_the_access_log_masks_an_international_number_as_people_write_it_in_a_url_query(caplog) -> None:  # noqa: ANN001
    """README (The `halo` command): every log line, uvicorn's access log included, masks phone numbers,
    "international ones also as people write them, `+33 6 12 34 56 78`". In a URL the spaces and brackets
    arrive encoded (`%20`, `+`, `%28`) and such a number was logged whole: `GET /v1/slots?...&q=%2B33%206%2012...`."""
    assert "international ones\nalso as people write them, `+33 6 12 34 56 78`, `+1 (555) 010-0199`" in README
    install_redaction()
    lines = {
        "/v1/availability?feed=acme&provider_id=%2B33%206%2012%2034%2056%2078": "/v1/availability?feed=acme&provider_id=%2B33%206%20**%20**%20*6%2078",
        "/ui/messages?q=%2B33+6+12+34+56+78&x=1": "/ui/messages?q=%2B33+6+**+**+*6+78&x=1",
        "/v1/slots?to=%2B1%20%28555%29%20010-0199": "/v1/slots?to=%2B1%20%2855*%29%20***-*199",
    }
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for path in lines:
            logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 422)
    logged = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert logged == [f'127.0.0.1:5000 - "GET {masked} HTTP/1.1" 422' for masked in lines.values()]
    # what is not a phone number stays as it is: a date range, an id with a plus
    assert mask_text("/v1/availability?from=2027-01-01&to=2027-01-31&provider_id=AC001") == "/v1/availability?from=2027-01-01&to=2027-01-31&provider_id=AC001"


def test_halo_serve_on_a_port_in_use_is_one_error_line_and_exit_2(tmp_path) -> None:  # noqa: ANN001
    """README (The `halo` command): "a user error prints one `error: ...` line and exits 2". `halo serve
    --port P` with P taken (another service, a `halo serve` still running) printed uvicorn's six log lines,
    the cause in the middle of them, and exited 3."""
    assert "Every subcommand has `--help`; a user error prints one `error: ...` line and exits 2." in README
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALO_", "DAGSTER_"))}
    env["HALO_HOME"] = str(tmp_path / "halo")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run([str(Path(sys.executable).parent / "halo"), "serve", "--port", str(port)], env=env,
                              capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"error: cannot listen on 127.0.0.1:{port}: address already in use\n", "")
