"""moto's S3 as a real HTTP server on 127.0.0.1 (the same WSGI app and request handler that
moto's ThreadedMotoServer runs), wrapped to record requests and to fail or stall on demand."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from halo_platform_tests.servers.common import HOST, PortHolder, Recorder

logging.getLogger("werkzeug").setLevel(logging.WARNING)

_CONTROL_PREFIX = "/moto-api/"


@dataclass
class S3Switches:
    """Failure switches; all off after `reset()`.

    - error_status: answer S3 requests with this HTTP status and an S3 XML error (e.g. 503 with
      error_code "SlowDown", 500 "InternalError", 403 "AccessDenied") instead of serving them.
    - error_code: the S3 error code in that XML body.
    - error_count: how many requests fail before serving resumes (None: all of them).
    - latency_seconds: delay before each S3 request is served.

    botocore retries 5xx, SlowDown and throttling codes by itself (legacy mode: 4 retries,
    standard: 2), so a client under test sees a failure only when error_count exceeds its
    retries, or when it is built with Config(retries={"max_attempts": 1}).
    """

    error_status: int | None = None
    error_code: str = "SlowDown"
    error_count: int | None = None
    latency_seconds: float = 0.0


@dataclass(frozen=True)
class S3Request:
    """One S3 API request that reached the server (also failed ones): `path` includes the bucket
    (path-style addressing), `query` is parsed, `headers` keep their names as sent (case-insensitive
    lookups: use `header(name)`), `status` is what was answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body_size: int
    status: int
    time: float = field(compare=False)

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


class S3Server:
    """S3 (moto) at `endpoint_url` in `region`, credentials `access_key_id`/`secret_access_key`
    (moto accepts any). `reset()` empties every bucket. `requests` records the S3 calls,
    `switches` fail them; `down()` makes the endpoint refuse connections for a while (state is
    kept); `unreachable_endpoint_url` is a URL whose connections are refused, on
    `unreachable_port`, which the caller holds (`closed_port`) for as long as the server runs."""

    region = "us-east-1"
    access_key_id = "halo-test-key"
    secret_access_key = "halo-test-secret"

    def __init__(self, unreachable_port: int) -> None:
        self.host = HOST
        self.switches = S3Switches()
        self.requests: Recorder[S3Request] = Recorder()
        self._lock = threading.Lock()
        self._app = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._port_holder = PortHolder()
        self.port = 0
        self.unreachable_endpoint_url = f"http://{HOST}:{unreachable_port}"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        """Keyword arguments for boto3.client("s3", **credentials, endpoint_url=...)."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "region_name": self.region,
        }

    @property
    def env(self) -> dict[str, str]:
        """The environment the `s3_server` fixture sets for each test."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
        }

    def client(self, **kwargs: Any):  # noqa: ANN201
        """A boto3 S3 client for this server (for arranging and checking state in tests)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint_url, **self.credentials, **kwargs)

    def _wsgi(self, environ: dict, start_response):  # noqa: ANN001, ANN202
        path = environ.get("PATH_INFO", "")
        if path.startswith(_CONTROL_PREFIX):
            return self._app(environ, start_response)
        switches = self.switches
        if switches.latency_seconds:
            time.sleep(switches.latency_seconds)
        status_seen: list[int] = []

        def recording_start_response(status: str, headers, exc_info=None):  # noqa: ANN001, ANN202
            status_seen.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        body_size = int(environ.get("CONTENT_LENGTH") or 0)
        if self._take_failure():
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{switches.error_code}</Code>'
                f"<Message>Injected by the test</Message><RequestId>halo-test</RequestId></Error>"
            ).encode()
            environ["wsgi.input"].read(body_size)
            result: Any = [body]
            recording_start_response(
                f"{switches.error_status} Injected", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
            )
        else:
            result = self._app(environ, recording_start_response)
        self.requests.append(
            S3Request(
                method=environ["REQUEST_METHOD"],
                path=path,
                query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
                headers={k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
                | ({"Content-Type": environ["CONTENT_TYPE"]} if environ.get("CONTENT_TYPE") else {}),
                body_size=body_size,
                status=status_seen[0] if status_seen else 0,
                time=time.time(),
            )
        )
        return result

    def _take_failure(self) -> bool:
        with self._lock:
            switches = self.switches
            if switches.error_status is None:
                return False
            if switches.error_count is None:
                return True
            if switches.error_count <= 0:
                return False
            switches.error_count -= 1
            return True

    def start(self) -> S3Server:
        self._port_holder.release()
        self._server = make_server(self.host, self.port, self._wsgi, threaded=True, request_handler=MotoRequestHandler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"moto-s3-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving. The port is kept (`PortHolder`), refusing connections, so `start()` serves
        at the same endpoint again; `close()` lets it go."""
        self._stop(keep_port=True)

    def close(self) -> None:
        """Stop for good: as `stop()`, and the port is let go."""
        self._stop(keep_port=False)
        self._port_holder.release()

    def _stop(self, keep_port: bool) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if keep_port:
                self._port_holder.hold(self.host, self.port)  # at once: the port is anyone's until then
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Inside the block the endpoint refuses connections (its port kept: see `stop()`);
        afterwards it serves again on the same port with its buckets intact."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def reset(self) -> None:
        if self._server is None:
            self.start()
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
        self.switches = S3Switches()
        self.requests.clear()
