"""A real threaded HTTP/1.1 server on 127.0.0.1 for imitating third-party APIs.

Register routes ``(method, path_regex) -> handler(request) -> (status, headers, body)``; the
server records every request and can be made to fail (random failures, latency, hard down,
an HTML 502). It runs in a thread (`start()` / context manager) or in a process of its own
(`run_in_process("pkg.module:factory")`), and answers keep-alive requests with one write each
(Nagle off, one buffered write, Content-Length always set): see the pitfall in
shared/spec/providers.md; `measure_capacity()` checks the figure.

Reserved paths under ``/__fake__/`` are never failed, delayed or recorded:
``GET ping``, ``GET stats``, ``GET requests?since=N``, ``POST switches`` (JSON), ``POST reset``.
They let a test or a benchmark steer a fake running in another process.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import importlib
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs, urlsplit

T = TypeVar("T")

HOST = "127.0.0.1"
CONTROL_PREFIX = "/__fake__/"
Body = bytes | str | dict | list | None
Reply = tuple[int, dict[str, str], Body] | tuple[int, Body]
Handler = Callable[["Request"], Reply]

DEFAULT_FAILURE: tuple[int, dict[str, str], Body] = (
    503,
    {"Content-Type": "application/json"},
    {"error": "service unavailable", "injected": True},
)
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Recorder(Generic[T]):
    """An append-only list shared between server threads and the test, with a wait for items
    that arrive asynchronously (a client may return before the server has stored)."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._cond = threading.Condition()

    def append(self, item: T) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def snapshot(self, since: int = 0) -> list[T]:
        with self._cond:
            return self._items[since:]

    def wait_for(self, count: int = 1, timeout: float = 5.0, where: Callable[[T], bool] | None = None) -> list[T]:
        """The items (matching `where`) once there are at least `count`; TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                items = [item for item in self._items if where is None or where(item)]
                if len(items) >= count:
                    return items
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"expected {count} item(s), got {len(items)} after {timeout}s")
                self._cond.wait(remaining)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.snapshot())

    def __getitem__(self, index: int) -> T:
        with self._cond:
            return self._items[index]


class Headers(dict):
    """Request headers with case-insensitive lookup (keys stored lower-cased; a repeated header's
    values joined with ", ")."""

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


@dataclass
class Request:
    """One request as received. `path` excludes the query; `query` is parsed (lists of values);
    `params` are the named groups of the matched route regex; `status` is what was answered
    (0 when the connection was closed without an answer); `time` is the epoch second of arrival."""

    method: str
    path: str
    query_string: str
    headers: Headers
    body: bytes
    time: float
    client: tuple[str, int]
    params: dict[str, str] = field(default_factory=dict)
    status: int = 0
    server: FakeHTTPServer | None = field(default=None, repr=False, compare=False)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded (last value wins for a repeated field)."""
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query_string": self.query_string,
            "headers": dict(self.headers),
            "body_b64": base64.b64encode(self.body).decode(),
            "time": self.time,
            "client": list(self.client),
            "params": self.params,
            "status": self.status,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls(
            method=data["method"],
            path=data["path"],
            query_string=data["query_string"],
            headers=Headers(data["headers"]),
            body=base64.b64decode(data["body_b64"]),
            time=data["time"],
            client=tuple(data["client"]),  # type: ignore[arg-type]
            params=data["params"],
            status=data["status"],
        )


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


def _encode(status: int, headers: dict[str, str], body: Body, head: bool, keep_alive: bool) -> bytes:
    """The whole response as one bytes object (one write: see the module docstring)."""
    out_headers = {k.title(): str(v) for k, v in headers.items()}
    if isinstance(body, dict | list):
        payload = json.dumps(body).encode()
        out_headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        payload = body.encode()
        out_headers.setdefault("Content-Type", "text/plain; charset=utf-8")
    else:
        payload = body or b""
    out_headers["Content-Length"] = str(len(payload))
    if not keep_alive:
        out_headers["Connection"] = "close"
    reason = http.client.responses.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in out_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head else payload)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    wbufsize = -1  # buffered: the response leaves in one write when handle_one_request flushes
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return

    def setup(self) -> None:
        super().setup()
        self.server.connections.add(self.connection)

    def finish(self) -> None:
        self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        fake = self.server.fake
        body = self._read_body()
        parts = urlsplit(self.path)
        headers = Headers()
        for key, value in self.headers.items():
            lowered = key.lower()
            headers[lowered] = f"{dict.get(headers, lowered)}, {value}" if lowered in headers else value
        request = Request(
            method=self.command,
            path=parts.path,
            query_string=parts.query,
            headers=headers,
            body=body,
            time=time.time(),
            client=self.client_address[:2],
            server=fake,
        )
        if parts.path.startswith(CONTROL_PREFIX):
            status, out_headers, out_body = fake._control(request)
        elif fake.hard_down:
            fake._count(request, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        else:
            status, out_headers, out_body = fake._respond(request)
            fake._count(request, status)
        self.wfile.write(_encode(status, out_headers, out_body, self.command == "HEAD", not self.close_connection))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class PortHolder:
    """Keeps a stopped server's port refusing connections, and no other process's, until the
    server starts on it again: a socket bound to the port and not listening, which Linux answers
    with a reset. A port merely closed could be bound by another process (the suite's other
    workers and their servers) before the test connected or restarted the server: the test then
    talked to that process, failing or hanging for a reason not the code's.

    The socket binds with SO_REUSEADDR, as the server did, since the server's own connections on
    the port (open at `stop()`, then in TIME_WAIT) refuse a bind without it, and clears it once
    bound: held with it set, a server binding with SO_REUSEADDR (socketserver's, werkzeug's,
    uvicorn's) could still bind and listen on the port; cleared, no other bind succeeds, with or
    without SO_REUSEADDR or SO_REUSEPORT, on 127.0.0.1, 0.0.0.0 or :: (Linux 6.18; test_servers
    pins both). The port is anyone's only between the listener's close and `hold()` (about 10 us)
    and between `release()` and the server's bind."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    def hold(self, host: str, port: int) -> None:
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
        except OSError:
            sock.close()
            raise
        self._sock = sock

    def release(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeHTTPServer) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        super().__init__(address, _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-request is normal under load and in failure tests.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class FakeHTTPServer:
    """A loopback HTTP/1.1 server that imitates an API.

    Routes: `add_route(method, path_regex, handler)` or `@server.route(method, path_regex)`;
    method "*" matches any; the regex must match the whole path (named groups land in
    `request.params`); first match wins; no match answers 404 JSON. A handler returns
    `(status, headers, body)` or `(status, body)`; a dict/list body is sent as JSON, a str as
    text. A handler that raises answers 500 and lands in `handler_errors`.

    Switches (plain attributes, restored by `reset()`), applied in this order:
    `hard_down` (close the connection without answering), `latency_seconds` (sleep first),
    `html_502` (answer 502 with an nginx-style HTML page), `failure_rate` (0..1: answer
    `failure_response`, by default 503 JSON, drawn from a `seed`ed random generator).

    Records: `requests` (a Recorder of Request, when `record` is true), `request_count`,
    `status_counts`, `peak_in_progress` (the most requests answered at once).
    """

    def __init__(self, host: str = HOST, port: int = 0, *, seed: int = 0, record: bool = True) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.record = record
        self.routes: list[_Route] = []
        self.requests: Recorder[Request] = Recorder()
        self.handler_errors: Recorder[str] = Recorder()
        self._lock = threading.Lock()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port_holder = PortHolder()
        self.reset()

    # -- routes

    def add_route(self, method: str, path_regex: str, handler: Handler) -> None:
        self.routes.append(_Route(method.upper(), re.compile(path_regex), handler))

    def route(self, method: str, path_regex: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add_route(method, path_regex, handler)
            return handler

        return register

    # -- switches and records

    def reset(self) -> None:
        """Switches off, records cleared, the random generator re-seeded; routes are kept."""
        self.failure_rate = 0.0
        self.failure_response: tuple[int, dict[str, str], Body] = DEFAULT_FAILURE
        self.latency_seconds = 0.0
        self.hard_down = False
        self.html_502 = False
        self._random = random.Random(self.seed)
        self.requests.clear()
        self.handler_errors.clear()
        with self._lock:
            self.request_count = 0
            self.status_counts: Counter[int] = Counter()
            self.in_progress = self.peak_in_progress = 0

    def set_switches(self, **switches: Any) -> None:
        allowed = {"failure_rate", "failure_response", "latency_seconds", "hard_down", "html_502"}
        unknown = set(switches) - allowed
        if unknown:
            raise ValueError(f"unknown switch(es): {sorted(unknown)}; known: {sorted(allowed)}")
        for name, value in switches.items():
            setattr(self, name, tuple(value) if name == "failure_response" else value)

    def _count(self, request: Request, status: int) -> None:
        request.status = status
        with self._lock:
            self.request_count += 1
            self.status_counts[status] += 1
        if self.record:
            self.requests.append(request)

    def _fails(self) -> bool:
        if self.failure_rate <= 0:
            return False
        with self._lock:
            return self._random.random() < self.failure_rate

    def _respond(self, request: Request) -> tuple[int, dict[str, str], Body]:
        with self._lock:
            self.in_progress += 1
            self.peak_in_progress = max(self.peak_in_progress, self.in_progress)
        try:
            return self._answer(request)
        finally:
            with self._lock:
                self.in_progress -= 1

    def _answer(self, request: Request) -> tuple[int, dict[str, str], Body]:
        if self.latency_seconds > 0:
            time.sleep(self.latency_seconds)
        if self.html_502:
            return 502, {"Content-Type": "text/html"}, HTML_502
        if self._fails():
            status, headers, body = self.failure_response
            return status, dict(headers), body
        for route in self.routes:
            if route.method not in ("*", request.method):
                continue
            match = route.pattern.fullmatch(request.path)
            if match is None:
                continue
            request.params = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                reply = route.handler(request)
            except Exception:
                self.handler_errors.append(traceback.format_exc())
                return 500, {}, {"error": "fake handler raised", "path": request.path}
            if len(reply) == 2:
                return reply[0], {}, reply[1]  # type: ignore[misc]
            return reply  # type: ignore[return-value]
        return 404, {}, {"error": "no route", "method": request.method, "path": request.path}

    def _control(self, request: Request) -> tuple[int, dict[str, str], Body]:
        action = request.path[len(CONTROL_PREFIX) :]
        if action == "ping":
            return 200, {}, {"ok": True}
        if action == "stats":
            with self._lock:
                counts = {str(k): v for k, v in self.status_counts.items()}
                total = self.request_count
            return 200, {}, {"requests": total, "statuses": counts, "handler_errors": len(self.handler_errors)}
        if action == "requests":
            since = int((request.query.get("since") or ["0"])[0])
            return 200, {}, [r.to_json() for r in self.requests.snapshot(since)]
        if action == "switches" and request.method == "POST":
            try:
                self.set_switches(**request.json())
            except (ValueError, TypeError) as error:
                return 400, {}, {"error": str(error)}
            return 200, {}, {"ok": True}
        if action == "reset" and request.method == "POST":
            self.reset()
            return 200, {}, {"ok": True}
        return 404, {}, {"error": "unknown control action", "action": action}

    # -- lifecycle

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FakeHTTPServer:
        if self._server is not None:
            return self
        self._port_holder.release()
        self._server = _HTTPServer((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"fakehttp-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close open keep-alive connections. The port is kept (`PortHolder`),
        refusing connections, so `start()` serves at the same URL again; `close()` lets it go."""
        self._stop(keep_port=True)

    def close(self) -> None:
        """Stop for good: as `stop()`, and the port is let go."""
        self._stop(keep_port=False)
        self._port_holder.release()

    def _stop(self, keep_port: bool) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if keep_port:
            self._port_holder.hold(self.host, self.port)  # at once: the port is anyone's until then
        for conn in list(server.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (for a process of its own)."""
        self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- a fake in a process of its own


def _control_call(url: str, method: str, action: str, payload: Any = None) -> Any:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        body = json.dumps(payload).encode() if payload is not None else None
        conn.request(method, CONTROL_PREFIX + action, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"fake control {action} answered {response.status}: {data[:200]!r}")
        return json.loads(data)
    finally:
        conn.close()


@dataclass
class FakeProcess:
    """A FakeHTTPServer serving in a child process: `url`, `stop()`, and the control calls
    (`stats()`, `requests(since)`, `set_switches(**switches)`, `reset()`)."""

    url: str
    process: subprocess.Popen

    def stats(self) -> dict[str, Any]:
        return _control_call(self.url, "GET", "stats")

    def requests(self, since: int = 0) -> list[Request]:
        return [Request.from_json(r) for r in _control_call(self.url, "GET", f"requests?since={since}")]

    def set_switches(self, **switches: Any) -> None:
        _control_call(self.url, "POST", "switches", switches)

    def reset(self) -> None:
        _control_call(self.url, "POST", "reset", {})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _factory_ref(factory: str | Callable[..., FakeHTTPServer]) -> str:
    if isinstance(factory, str):
        return factory
    ref = f"{factory.__module__}:{factory.__qualname__}"
    if "<" in ref or factory.__module__ == "__main__":
        raise ValueError(f"{ref}: the factory must be a module-level function importable by name")
    return ref


def _load_factory(ref: str) -> Callable[..., FakeHTTPServer]:
    module_name, _, attr = ref.partition(":")
    target: Any = importlib.import_module(module_name)
    for name in attr.split("."):
        target = getattr(target, name)
    return target


def run_in_process(
    factory: str | Callable[..., FakeHTTPServer], *args: Any, startup_timeout: float = 30.0, **kwargs: Any
) -> FakeProcess:
    """Start `factory(*args, **kwargs)` (a module-level function or "pkg.module:function" that
    returns an unstarted FakeHTTPServer; arguments must be JSON-serializable) in a new Python
    process and return once it listens. The child exits when stopped or when this process
    goes away (its stdin closes)."""
    command = [sys.executable, "-m", "halo_platform.lab.fakehttp", _factory_ref(factory), json.dumps([args, kwargs])]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = threading.Event()
    line: list[str] = []

    def read_url() -> None:
        assert process.stdout is not None
        line.append(process.stdout.readline().strip())
        ready.set()

    threading.Thread(target=read_url, daemon=True).start()
    if not ready.wait(startup_timeout) or not line[0].startswith("http://"):
        process.kill()
        process.wait()
        raise RuntimeError(f"fake {command[3]} did not start (exit code {process.returncode}, said {line!r})")
    return FakeProcess(url=line[0], process=process)


def _child_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a FakeHTTPServer built by a factory until stdin closes.")
    parser.add_argument("factory", help="pkg.module:function returning an unstarted FakeHTTPServer")
    parser.add_argument("arguments", nargs="?", default="[[], {}]", help="JSON [args, kwargs] for the factory")
    options = parser.parse_args(argv)
    args, kwargs = json.loads(options.arguments)
    fake = _load_factory(options.factory)(*args, **kwargs).start()
    print(fake.url, flush=True)
    stdin_closed = threading.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        stdin_closed.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    try:
        stdin_closed.wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()


# -- capacity


def measure_capacity(
    url: str,
    *,
    requests: int = 2000,
    client: str = "http.client",
    concurrency: int = 1,
    path: str = "/__fake__/ping",
    method: str = "GET",
    body: bytes | None = None,
) -> float:
    """Requests per second the server at `url` answers to keep-alive clients: `concurrency`
    threads share `requests` sequential calls, each thread over its own `http.client`
    connection, or all through one pooled `httpx.Client` (`client="httpx"`)."""
    parts = urlsplit(url)
    per_thread = max(1, requests // concurrency)
    barrier = threading.Barrier(concurrency + 1)
    errors: list[BaseException] = []
    connections: list[http.client.HTTPConnection] = []

    if client == "httpx":
        import httpx

        pool = httpx.Client(
            base_url=url, timeout=10, limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        )

        def call() -> Callable[[], None]:
            return lambda: pool.request(method, path, content=body).raise_for_status()

    elif client == "http.client":
        pool = None

        def call() -> Callable[[], None]:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            connections.append(conn)

            def once() -> None:
                conn.request(method, path, body=body)
                response = conn.getresponse()
                response.read()
                if response.status >= 400:
                    raise RuntimeError(f"{method} {path} answered {response.status}")

            return once

    else:
        raise ValueError(f"client must be 'http.client' or 'httpx', not {client!r}")

    def worker() -> None:
        once = call()
        try:
            once()  # connect before the clock starts
            barrier.wait()
            for _ in range(per_thread):
                once()
        except BaseException as error:  # noqa: BLE001 - reported to the caller below
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join()
    finally:
        if pool is not None:
            pool.close()
        for conn in connections:
            conn.close()
    if errors:
        raise RuntimeError(f"capacity measurement against {url}{path} failed: {errors[0]!r}") from errors[0]
    return per_thread * concurrency / elapsed


def echo_server(seed: int = 0) -> FakeHTTPServer:
    """A fake answering every request with 200 and a small JSON echo of method and path
    (for capacity measurements and smoke tests)."""
    fake = FakeHTTPServer(seed=seed, record=False)
    fake.add_route("*", r"/.*", lambda request: (200, {}, {"ok": True, "method": request.method, "path": request.path}))
    return fake


if __name__ == "__main__":
    _child_main()
