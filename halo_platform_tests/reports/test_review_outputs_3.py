"""Review of report outputs and the sinks they reach: the xlsx cell of a double,
the addresses the file sinks record for what they wrote, the media types of email attachments and
a file name made of payload text; each read back from the file or the real server."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import openpyxl
import pytest

from halo_platform.reports.assets import duckdb_connection, run_config, run_tags, write_output
from halo_platform.reports.audit import get_request
from halo_platform.reports.definitions import build_defs
from halo_platform.reports.demo import campaign, order, write_marketing, write_payments
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform.reports.task import get_task
from halo_platform.sinks import Delivery, SinksResource
from halo_platform.sinks.email import EmailSink
from halo_platform.ui.requests import output_name
from halo_platform_tests.reports.test_new_task import third_task  # noqa: F401 - the fixture


def test_xlsx_doubles_are_number_cells_of_the_same_double(tmp_path):
    """The README promised every number of more than 15 significant digits as its exact text, a
    DOUBLE included, while a DOUBLE went out as a number cell. A double is already the binary
    value Excel stores (it shows 15 digits of it): a cell of the same double keeps every bit and
    sums in Excel, where text would not, so the README now says so; BIGINT and DECIMAL past 15
    digits stay text (they are exact values Excel would round), a non-finite double is text."""
    con = duckdb_connection(tmp_path)
    con.execute("""CREATE TABLE result AS SELECT * FROM (VALUES
        (CAST(0.1234567890123456789 AS DOUBLE), CAST(0.1 AS FLOAT)), (CAST(12345678901234567.0 AS DOUBLE), CAST(0.5 AS FLOAT)),
        (CAST(1e20 AS DOUBLE), CAST(1 AS FLOAT) / 3), (CAST(1.2345e-5 AS DOUBLE), NULL), (CAST(-123456789012345.0 AS DOUBLE), NULL),
        (CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE), NULL), (CAST('-inf' AS DOUBLE), NULL)) t(ratio, single)""")
    write_output(con, tmp_path / "out.xlsx", "xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "out.xlsx")["report"]
    assert [[(c.value, c.data_type) for c in row] for row in sheet.iter_rows(min_row=2)] == [
        [(0.1234567890123456789, "n"), (0.1, "n")],
        [(12345678901234567.0, "n"), (0.5, "n")],
        [(1e20, "n"), (0.33333334, "n")],
        [(1.2345e-05, "n"), (None, "n")],
        [(-123456789012345, "n"), (None, "n")],
        [(0.1 + 0.2, "n"), (None, "n")],
        [("-inf", "s"), (None, "n")],
    ]


FOLDER = "in #2/März ?x"  # a folder a partner named: a space, '#' (a fragment in a URL), '?' (a query), non-ASCII
REPORT = "campaign_alerts_2024-05-10.csv"


def _fetch_ftp(output: str, server) -> bytes:  # noqa: ANN001
    """The file at an ftp:// output, fetched as any FTP client reads a URL (urllib: its path percent-decoded)."""
    parts = urlsplit(output)
    with urllib.request.urlopen(parts._replace(netloc=f"{server.username}:{server.password}@{parts.netloc}").geturl(),
                                timeout=10) as response:
        return response.read()


def test_the_outputs_of_ftp_sftp_and_s3_sinks_are_urls_of_the_files_they_wrote(warehouses, halo_env, store, sinks_file,
                                                                              ftp_server, sftp_server, s3_server):
    """The FTP, SFTP and S3 sinks recorded `ftp://host:port/in #2/März ?x/report.csv` as it was: read as a
    URL its path ended at `/in ` ('#' began a fragment), so the request's output named no file (the
    download page read the file name `in `; an S3 link store signed a link to the key `team `). Each
    output is now percent-encoded: its path, decoded, is where the file is."""
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]), [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    s3_server.client().create_bucket(Bucket="reports")
    sinks_file({
        "partner_ftp": {"kind": "ftp", "host": "127.0.0.1", "port": ftp_server.port, **ftp_server.credentials,
                        "remote_dir": f"/{FOLDER}"},
        "partner_sftp": {"kind": "sftp", "host": "127.0.0.1", "port": sftp_server.port, **sftp_server.credentials,
                         "remote_dir": f"/{FOLDER}", "known_hosts_path": str(sftp_server.known_hosts_path)},
        "archive_s3": {"kind": "s3", "bucket": "reports", "prefix": f"{FOLDER}/", "endpoint_url": s3_server.endpoint_url,
                       "region": s3_server.region},
    })
    request = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"},
                             sinks=["partner_ftp", "partner_sftp", "archive_s3"], wait=True)
    assert request["status"] == "SUCCEEDED", request["error"]
    body = (ftp_server.home / FOLDER / REPORT).read_bytes()
    assert body.startswith(b"campaign_id,")
    ftp, s3, sftp = sorted(request["outputs"])
    quoted = "in%20%232/M%C3%A4rz%20%3Fx/" + REPORT
    assert (ftp, sftp, s3) == (f"ftp://127.0.0.1:{ftp_server.port}/{quoted}", f"sftp://127.0.0.1:{sftp_server.port}/{quoted}",
                               f"s3://reports/{quoted}")
    assert _fetch_ftp(ftp, ftp_server) == body
    assert (sftp_server.root / unquote(urlsplit(sftp).path).lstrip("/")).read_bytes() == body
    assert httpx.get(SinksResource().get("archive_s3").link(s3)).content == body
    assert {output_name(output) for output in request["outputs"]} == {REPORT}


MEDIA_TYPES = {"report.csv": "text/csv", "report.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "report.parquet": "application/vnd.apache.parquet", "alert.json": "application/json", "page.html": "text/html",
               "note.txt": "text/plain", "other.bin": "application/octet-stream"}


def test_email_attachments_carry_the_media_type_of_their_file(smtp_server, tmp_path):
    """Every attachment went out as application/octet-stream: a mail client could only save a csv
    or an xlsx, not open it in the program for it. Each kind of file the platform sends has its
    type (text as UTF-8); a file of another kind is still octet-stream."""
    files = []
    for name in MEDIA_TYPES:
        files.append(tmp_path / name)
        files[-1].write_bytes("née,1\n".encode() if name.endswith((".csv", ".txt")) else b"\x00data")
    sink = EmailSink(host=smtp_server.host, port=smtp_server.port, sender="reports@example.com", to=["finance@example.com"],
                     **smtp_server.credentials)
    sink.deliver(Delivery("weekly report", "3 issues", files))
    (mail,) = smtp_server.messages.wait_for(1)
    parts = {part.get_filename(): part for part in mail.message.iter_attachments()}
    assert {name: part.get_content_type() for name, part in parts.items()} == MEDIA_TYPES
    assert parts["report.csv"].get_content_charset() == "utf-8" and parts["report.csv"].get_content() == "née,1\n"
    assert mail.attachments == {path.name: path.read_bytes() for path in files}


@pytest.mark.usefixtures("third_task")
def test_a_payload_value_in_a_file_name_cannot_put_the_file_outside_the_requests_folder(warehouses, halo_env, store):
    """A task's file name holds payload text (the README's worked example: `order_counts_{status}`):
    status `/../../../../escaped` wrote the report outside HALO_HOME (`outputs/<id>/order_counts_/`
    was made, then climbed out of), and `x/paid` made folder `order_counts_x` and delivered `paid.csv`.
    The file's name is the stem with its separators as `_`, in the request's own folder."""
    home = Path(halo_env["HALO_HOME"])
    task, job = get_task("order_counts"), build_defs().resolve_job_def("order_counts_job")
    write_payments(warehouses["payments"], [order("A", "1.00", "x/paid", dt.datetime(2024, 3, 4))], [])
    for status, name in (("/../../../../escaped", "order_counts__.._.._.._.._escaped.csv"), ("x/paid", "order_counts_x_paid.csv")):
        payload = {"status": status}
        run = job.execute_in_process(run_config=run_config(task, payload), instance=dagster_instance(),
                                     tags=run_tags(task, "manual", "test", payload), raise_on_error=False)
        request = get_request(store, run.run_id)
        assert request["status"] == "SUCCEEDED", request["error"]
        assert [output_name(output) for output in request["outputs"]] == [name]
        assert [p.name for p in (home / "outputs" / request["request_id"]).iterdir() if p.is_file()] == [name]
        assert (home / "outbox" / name).read_text() == ("currency,orders\nIDR,1\n" if status == "x/paid" else "currency,orders\n")
    assert not (home.parent / "escaped.csv").exists() and not (home.parent.parent / "escaped.csv").exists()
