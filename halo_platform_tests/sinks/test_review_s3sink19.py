"""S3 sink review 19: an endpoint that answers a line (a byte) at a time, each within the sink's
timeout (botocore's holds for each read) and slower than it in total, and one whose answer is cut
off. The trickling endpoints are sockets of test_review_sinks19; the S3 behind them is moto's."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from halo_platform.sinks import Delivery, deliver_with_retries
from halo_platform.sinks.base import PermanentSinkError, TransientSinkError
from halo_platform.sinks.s3 import S3Sink
from halo_platform_tests.sinks.test_review_sinks19 import Trickler


class Answering(Trickler):
    """A trickler that reads the request first (one closed on an unread request is a reset, not an answer)."""

    def trickle(self, conn: socket.socket) -> None:
        conn.recv(65536)
        super().trickle(conn)


class AnsweringTLS(Answering):
    """The same over TLS (`tls`: the server's certificate files), as S3 is: the socket read is the TLS one."""

    def __init__(self, tls, *args, **kwargs) -> None:  # noqa: ANN001, ANN002, ANN003
        self.context = tls.server_context()
        super().__init__(*args, **kwargs)

    def trickle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):  # the sink hung up in the handshake
            super().trickle(self.context.wrap_socket(conn, server_side=True))


def _sink(endpoint_url: str, s3_server, **settings) -> S3Sink:  # noqa: ANN001
    return S3Sink(bucket="reports", endpoint_url=endpoint_url, region=s3_server.region, **settings)


def test_an_answer_trickled_a_byte_at_a_time_is_given_up_at_the_deadline_and_retried(s3_server, report_file):
    """A status line sent a byte every 0.2 s held a sink with timeout=1 as long as the endpoint went
    on (8 s here, for good with an endless one): the upload has the timeout and a second for each
    32 kB, then fails as transient and is retried; the retry (relayed to moto) delivers."""
    s3_server.client().create_bucket(Bucket="reports")
    server = Answering(b"H", (s3_server.host, s3_server.port), every=0.2, lines=40)
    try:
        started = time.monotonic()
        outcome = deliver_with_retries("s3", _sink(f"http://127.0.0.1:{server.port}", s3_server, timeout=1),
                                       Delivery("r", "t", [report_file]), attempts=2, backoff_seconds=(0,))
        took = time.monotonic() - started
    finally:
        server.close()
    assert (outcome.status, outcome.attempts) == ("DELIVERED", 2), outcome.detail
    assert outcome.tries[0]["error"] == f"TransientSinkError: S3 127.0.0.1:{server.port}: no answer within 1 s"
    assert took < 4  # 8 s before
    assert s3_server.client().get_object(Bucket="reports", Key=report_file.name)["Body"].read() == report_file.read_bytes()


def test_an_answer_trickled_over_tls_is_given_up_at_the_deadline(s3_server, report_file, tls_files, monkeypatch):
    """The socket the deadline shuts is the TLS one, which takes the place of the plain one."""
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tls_files.ca_path))
    server = AnsweringTLS(tls_files, b"H", (s3_server.host, s3_server.port), every=0.2, lines=40)
    try:
        started = time.monotonic()
        with pytest.raises(TransientSinkError, match=f"^S3 127.0.0.1:{server.port}: no answer within 1 s$"):
            _sink(f"https://127.0.0.1:{server.port}", s3_server, timeout=1).deliver(Delivery("r", "t", [report_file]))
        assert time.monotonic() - started < 4  # 8 s before
    finally:
        server.close()


def test_an_answer_cut_off_in_its_head_is_not_a_delivery(s3_server, report_file):
    """`200 OK` and a header, then the connection closed: the head never ended and the answer had
    no ETag (S3 sends one for each object it stored), yet the upload was DELIVERED."""
    server = Answering(b"HTTP/1.1 200 OK\r\nX-Slow: still\r\n", (s3_server.host, s3_server.port), every=0.01, lines=1)
    try:
        with pytest.raises(TransientSinkError, match=r"^S3 reports: the answer to the upload of .* was not a whole 200 with an ETag"):
            _sink(f"http://127.0.0.1:{server.port}", s3_server, timeout=5).deliver(Delivery("r", "t", [report_file]))
    finally:
        server.close()


def test_a_file_over_the_limit_of_one_put_goes_in_parts(s3_server, tmp_path, monkeypatch):
    """S3 takes 5 GiB at most in one PUT (EntityTooLarge): a larger report was PUT whole and never
    delivered. Over the limit (6 MiB here) it goes in parts (5 MiB, moto's least but the last one),
    each with its CRC32, and the object is the file."""
    from halo_platform.sinks import s3

    monkeypatch.setattr(s3, "MAX_PUT_BYTES", 6 * 1024**2)
    monkeypatch.setattr(s3, "PART_BYTES", 5 * 1024**2)
    s3_server.client().create_bucket(Bucket="reports")
    s3_server.requests.clear()
    report = tmp_path / "big.csv"
    report.write_bytes(bytes(range(256)) * (11 * 4096 + 1))  # 11 MiB and 256 bytes: parts of 5, 5 and 1 MiB
    assert _sink(s3_server.endpoint_url, s3_server).deliver(Delivery("r", "t", [report])) == ["s3://reports/big.csv"]
    sent = [(r.method, sorted(r.query), r.status) for r in s3_server.requests.snapshot()]
    assert sent == [("POST", ["uploads"], 200)] + [("PUT", ["partNumber", "uploadId"], 200)] * 3 + [("POST", ["uploadId"], 200)]
    assert s3_server.client().get_object(Bucket="reports", Key="big.csv")["Body"].read() == report.read_bytes()


def test_an_upload_in_parts_that_fails_is_aborted(s3_server, tmp_path, monkeypatch):
    """Parts of 1 MiB: S3 (moto) refuses to complete an upload of parts under 5 MiB but the last.
    The failure is said, and the upload aborted: S3 keeps the parts of one never completed (and bills them)."""
    from halo_platform.sinks import s3

    monkeypatch.setattr(s3, "MAX_PUT_BYTES", 2 * 1024**2)
    monkeypatch.setattr(s3, "PART_BYTES", 1024**2)
    s3_server.client().create_bucket(Bucket="reports")
    report = tmp_path / "big.csv"
    report.write_bytes(b"x" * 3 * 1024**2)
    with pytest.raises(PermanentSinkError, match="^S3 reports: EntityTooSmall$"):
        _sink(s3_server.endpoint_url, s3_server).deliver(Delivery("r", "t", [report]))
    assert [(r.method, sorted(r.query)) for r in s3_server.requests.snapshot()][-1] == ("DELETE", ["uploadId"])
    assert s3_server.client().list_multipart_uploads(Bucket="reports").get("Uploads", []) == []
