"""The fixtures that start real servers, under a loaded CI (`pytest -n 3` on two cores): a port
chosen free may be taken by another process before the server binds it, and the test must then
not talk to that other process."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from halo_platform_tests.fixtures import halo_serve as serving
from halo_platform_tests.servers.common import listening_socket


class _Impostor(http.server.BaseHTTPRequestHandler):
    """Another service on the port: it answers /health (and everything) 200."""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def impostor_port() -> Iterator[int]:
    """A port another HTTP server holds, answering 200 to any GET."""
    sock = listening_socket()
    server = http.server.HTTPServer(sock.getsockname(), _Impostor, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield sock.getsockname()[1]
    server.shutdown()
    server.server_close()


def test_halo_serve_moves_to_another_port_when_the_one_chosen_is_taken_before_it_binds(halo_env, tmp_path, impostor_port, monkeypatch) -> None:  # noqa: ANN001
    chosen = iter([impostor_port])
    free_port = serving.free_port
    monkeypatch.setattr(serving, "free_port", lambda: next(chosen, None) or free_port())
    with serving.halo_serve(tmp_path) as url:
        assert url != f"http://127.0.0.1:{impostor_port}"
        assert httpx.get(f"{url}/health", timeout=30).json() != {}  # halo's own answer
        logs = {p.name: p.read_text() for p in tmp_path.glob("serve-*.log")}
    assert list(logs) == [f"serve-{url.rsplit(':', 1)[1]}.log"]  # the log of the server the test talked to
    assert f"Uvicorn running on {url}" in logs[f"serve-{url.rsplit(':', 1)[1]}.log"]


def test_halo_serve_on_a_port_given_and_taken_fails_with_its_log(halo_env, tmp_path, impostor_port) -> None:  # noqa: ANN001
    with pytest.raises(AssertionError, match="address already in use"), serving.halo_serve(tmp_path, port=impostor_port):
        pytest.fail("the fixture yielded another process's URL")


def test_a_browser_test_waits_for_a_page_that_is_slow_to_be_ready(page) -> None:  # noqa: ANN001
    # a page running its scripts under load: Swagger UI took more than Playwright's 5 s to render
    # its operations on a loaded CI; a readiness wait is the one generous default, in every test
    page.set_content("<main></main><script>setTimeout(() => document.querySelector('main').textContent = 'ready', 6000)</script>")
    expect(page.locator("main")).to_have_text("ready")


def test_halo_serve_workers_slow_to_start_on_a_loaded_machine_are_waited_for(halo_env, tmp_path) -> None:  # noqa: ANN001
    """uvicorn kills a worker process that has not answered its health check within 5 s and starts
    another: on a loaded machine (CI at load 10, or a host starting every service at once) a worker
    took longer to start, each one was killed in turn and `halo serve --workers 2` never answered.
    Here each worker process starts 6 s late."""
    late = tmp_path / "late"
    late.mkdir()
    (late / "sitecustomize.py").write_text('import sys, time\nif "--multiprocessing-fork" in sys.argv:\n    time.sleep(6)\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(late), os.environ.get("PYTHONPATH", "")])}
    with serving.halo_serve(tmp_path, "--workers", "2", env=env, timeout=45) as url:
        assert httpx.get(f"{url}/health", timeout=30).json() == {"status": "ok"}
    assert "died" not in "".join(p.read_text() for p in tmp_path.glob("serve-*.log"))
