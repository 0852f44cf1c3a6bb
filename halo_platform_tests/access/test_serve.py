"""`halo serve` as deployed: the rate limit holds across its worker processes (the bucket is in the
store), and behind a TLS proxy `--proxy-headers` lets callback signatures over the public https
URL verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from urllib.parse import urlencode

import httpx
import yaml

from halo_platform.access.keys import create_key
from halo_platform.core.store import StoreResource
from halo_platform_tests.fixtures.halo_serve import halo_serve

TWILIO_TOKEN = "proxy-test-auth-token"


def test_the_rate_limit_holds_across_worker_processes(halo_env, tmp_path) -> None:  # noqa: ANN001
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    key = create_key(store, "partner", ["messages:read"], rate_per_second=5)
    store.dispose()
    answered: list[int] = []
    lock = threading.Lock()
    with halo_serve(tmp_path, "--workers", "2") as url:
        stop = time.monotonic() + 3.0

        def client() -> None:
            # no keep-alive: a new connection each time, so the kernel spreads them over both workers
            with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as http:
                while time.monotonic() < stop:
                    code = http.get(f"{url}/v1/messages/unknown").status_code
                    with lock:
                        answered.append(code)

        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
    admitted = answered.count(404)  # the key passed and the route answered: no such message
    # one bucket: a burst of 5, then 5 per second; two per-process buckets would admit about twice that
    assert set(answered) <= {404, 429} and answered.count(429) > 0, answered
    assert admitted <= 5 + 5 * elapsed + 1, (admitted, elapsed, len(answered))
    assert admitted >= 5 + 5 * (elapsed - 1.5), (admitted, elapsed)


def _twilio_signature(url: str, params: dict[str, str]) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(), hashlib.sha1).digest()).decode()


def test_behind_a_tls_proxy_callback_signatures_over_the_public_url_verify(halo_env, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    providers = tmp_path / "providers.yaml"
    providers.write_text(yaml.safe_dump({"providers": {"tw": {
        "kind": "twilio", "channel": "sms", "base_url": "http://127.0.0.1:9", "account_sid": "AC1", "auth_token": TWILIO_TOKEN,
        "sender": "+33700000000"}}, "routing": []}))
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(providers))
    params = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    public = "https://halo.example.org/v1/callbacks/tw"
    # what the proxy forwards: the public Host, the scheme it terminated, the client's address
    headers = {"Host": "halo.example.org", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7",
               "Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": _twilio_signature(public, params)}
    with halo_serve(tmp_path, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1") as url:
        behind = httpx.post(f"{url}/v1/callbacks/tw", content=urlencode(params), headers=headers, timeout=30)
    assert behind.status_code == 200 and behind.json()["unmatched"] == 1, behind.text
    with halo_serve(tmp_path) as url:  # without the flag the service sees http:// and the signature cannot match
        direct = httpx.post(f"{url}/v1/callbacks/tw", content=urlencode(params), headers=headers, timeout=30)
    assert direct.status_code == 401 and direct.json()["error"] == "bad or missing X-Twilio-Signature", direct.text


def test_no_key_hash_or_password_reaches_the_service_log(halo_env, tmp_path) -> None:  # noqa: ANN001
    from halo_platform.access import users
    from halo_platform.access.keys import key_hash

    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    key = create_key(store, "logged", ["admin"])
    password = "the very secret password"
    users.create_user(store, "rina", "admin", password)
    store.dispose()
    wrong = key[:-4] + "AAAA"
    with halo_serve(tmp_path) as url, httpx.Client(base_url=url, timeout=30) as http:
        for presented in (key, wrong):
            http.get("/v1/tasks", headers={"Authorization": f"Bearer {presented}"})
            http.get(f"/v1/messages/unknown?api_key={presented}&note={presented}", headers={"Authorization": f"Bearer {presented}"})
        login = http.get("/ui/login")
        token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        for attempt in ("wrong " + password, password):
            http.post("/ui/login", data={"name": "rina", "password": attempt, "csrf_token": token}, cookies=login.cookies)
    log = "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
    assert "/v1/messages/unknown" in log and "halo_" in log  # the access log was written, the keys' prefixes in it
    for secret in (key, wrong, key.split("_", 2)[2], wrong.split("_", 2)[2], key_hash(key), password):
        assert secret not in log
