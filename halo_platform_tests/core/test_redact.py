"""Masking of phone numbers, email addresses, callback query strings and secrets in logs:
the pure masking, the one filter on every record of every logger (uvicorn's access log
and Dagster's code location included), installed where each process starts."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from halo_platform.core.redact import RedactingFilter, mask_text
from halo_platform_tests.fixtures.halo_serve import halo_serve


@pytest.mark.parametrize(
    ("text", "hidden", "shown"),
    [
        ("400 21211 The 'To' number +33612345678 is not a valid phone number.", "33612345678", "+336*****678"),
        ('GET /v1/callbacks/vo?msisdn=4915123456789&to=Halo&status=delivered HTTP/1.1', "4915123456789", "/v1/callbacks/vo?[redacted]"),
        ("GET /v1/inbound/vo?msisdn=4915123456789&text=call+me+on+0151+2345+6789 HTTP/1.1", "0151+2345+6789", "/v1/inbound/vo?[redacted]"),
        ("status 3: Invalid to number msisdn=4915123456789", "4915123456789", "msisdn=491*******789"),
        ('{"to": "4915123456789"}', "4915123456789", '"to": "491*******789"'),
        ('"ada.lovelace@example.com" is an invalid email address.', "ada.lovelace@", "a***@example.com"),
        ("to=ada%40example.com&x=%2B33612345678", "33612345678", "a***%40example.com"),
        ("sent to Éva.Kovács@bücher.de", "va.Kov", "É***@bücher.de"),  # letters beyond ASCII (were left whole or in part)
        ("GET /account/get-balance?api_key=vkey&api_secret=vsecret", "vsecret", "api_secret=***"),
        ("could not connect to postgresql://payments:hunter2secret@10.0.0.5/db", "hunter2", "postgresql://payments:***@10.0.0.5/db"),
        ("mysql+pymysql://root:p@ss@db:3306/x refused", "p@ss", "mysql+pymysql://root:***@db:3306/x"),
        # a number written as people write it, with spaces, dots, dashes or brackets (was left whole)
        ("Could not convert string '+33 6 12 34 56 78' to INT32", "12 34 5", "'+33 6 ** ** *6 78'"),
        ("PID|1||42||Doe^Jane||19800101|F|||||+1 (555) 010-0199", "010-0", "+1 (55*) ***-*199"),
        ("to +49.151.2345.6789 and +44 20 7946 0958", "2345", "+49.1**.****.*789 and +44 2* **** *958"),
        # a key named with a hyphen, as HTTP headers name it (`api_?key` took `api_key` and `apikey` alone)
        ('{"X-API-Key": "abc123def456ghi"}', "abc123def456", '"X-API-Key": "***"'),
        ("GET /v2/send?x-api-key=abc123def456ghi&to=Halo", "abc123def456", "x-api-key=***"),
        ("AWS Access-Key='AKIAEXAMPLE12345' refused", "AKIAEXAMPLE", "Access-Key='***'"),
    ],
)
def test_mask_text_hides_numbers_addresses_callback_queries_and_secrets(text, hidden, shown):
    masked = mask_text(text)
    assert hidden not in masked
    assert shown in masked


@pytest.mark.parametrize("text", ["sent 3 of 12 messages in 1763719200 ms", "SM0123456789abcdef", "weights sms/FR/TEXT tw=70",
                                  "sent to f*****e@example.com", "at 2026-12-04 10:12:08 +01:00", "+1 more, 2 of 3 (12.5 %)",
                                  "offset +05:30 since 2026-01-01"])  # a sink's own masking is left as it is
def test_mask_text_leaves_ordinary_figures_and_ids_alone(text):
    assert mask_text(text) == text


@given(st.text())
def test_masking_is_idempotent_and_never_raises(text):
    once = mask_text(text)
    assert mask_text(once) == once


def record(msg, args, name="halo.delivery"):  # noqa: ANN001, ANN201
    return logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, None)


def test_the_filter_masks_arguments_one_by_one_so_uvicorns_access_formatter_still_unpacks_them():
    from uvicorn.logging import AccessFormatter

    rec = record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", "/v1/callbacks/vo?msisdn=4915123456789", "1.1", 401), "uvicorn.access")
    assert RedactingFilter().filter(rec) is True
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(rec)
    assert "4915123456789" not in line and "/v1/callbacks/vo?[redacted]" in line and "401" in line


def test_the_filter_masks_objects_mappings_and_tracebacks_and_keeps_number_formats():
    rec = record("%(who)s got %(n)d", ({"who": "ada@example.com", "n": 3},))
    RedactingFilter().filter(rec)
    assert rec.getMessage() == "a***@example.com got 3"
    try:
        raise ValueError("The 'To' number +33612345678 is not valid")
    except ValueError as exc:
        rec = logging.LogRecord("halo", logging.ERROR, __file__, 1, "failed: %s", (exc,), sys.exc_info())
    RedactingFilter().filter(rec)
    formatted = logging.Formatter().format(rec)
    assert "33612345678" not in formatted and "+336*****678" in formatted


LOG_LINE = "import logging; logging.basicConfig(level=logging.INFO); logging.getLogger('halo.x.y').info('to +33612345678 ada@example.com')"


@pytest.mark.parametrize(
    "start",
    [
        "import halo_platform.definitions",  # the Dagster code location
        "from halo_platform.http import create_app; create_app()",
        "from halo_platform.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass",
    ],
)
def test_every_process_entry_point_installs_the_filter_for_every_logger(start, tmp_path):
    env = {**os.environ, "HALO_HOME": str(tmp_path), "HALO_DB_URL": f"sqlite:///{tmp_path / 'halo.db'}"}
    done = subprocess.run([sys.executable, "-c", f"{start}\n{LOG_LINE}"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "33612345678" not in done.stderr and "ada@" not in done.stderr
    assert "+336*****678" in done.stderr and "a***@example.com" in done.stderr


def _access_log_of_a_get(tmp_path: Path, path: str, params: dict[str, str]) -> str:
    """What a real `halo serve` (a Vonage provider `vo` configured) logged for one GET of `path`
    with `params`, which it refuses unsigned (401)."""
    providers = tmp_path / "providers.yaml"
    providers.write_text("providers:\n  vo: {kind: vonage, channel: sms, api_key: k, api_secret: s, signature_secret: sig}\n")
    env = {**os.environ, "HALO_HOME": str(tmp_path), "HALO_DB_URL": f"sqlite:///{tmp_path / 'halo.db'}", "HALO_PROVIDERS_FILE": str(providers)}
    with halo_serve(tmp_path, env=env) as url:
        assert httpx.get(f"{url}{path}", params=params, timeout=30).status_code == 401
        time.sleep(0.5)
    return "".join(log.read_text() for log in tmp_path.glob("serve-*.log"))


def test_halo_serve_keeps_the_number_of_a_vonage_receipt_by_get_out_of_the_access_log(tmp_path):
    text = _access_log_of_a_get(tmp_path, "/v1/callbacks/vo",
                                {"msisdn": "4915123456789", "to": "+4915123456780", "messageId": "x", "status": "delivered"})
    assert "/v1/callbacks/vo?[redacted]" in text, text
    assert "4915123456789" not in text and "4915123456780" not in text


def test_halo_serve_keeps_an_inbound_sms_by_get_out_of_the_access_log(tmp_path):
    """Vonage sends inbound SMS by GET too: the query holds the sender's number and the text they
    wrote (personal data the platform does not keep), which only the keyed number was masked of:
    "text=call+me+on+0151+2345+6789" reached the access log whole."""
    text = _access_log_of_a_get(tmp_path, "/v1/inbound/vo", {
        "msisdn": "4915123456789", "to": "4915123456780", "messageId": "x", "type": "text",
        "text": "wrong number, I am Jane Doe, call me on 0151 2345 6789", "keyword": "WRONG"})
    assert "/v1/inbound/vo?[redacted]" in text, text
    assert "4915123456789" not in text and "2345+6789" not in text and "Jane" not in text


@pytest.mark.parametrize(("secret", "leaked"), [
    (" jane.doe@example.com", "jane.doe"),
    (" postgresql://app:hunter2secret@db.internal/x", "hunter"),
])
@pytest.mark.parametrize("cut_at", range(283, 300))
def test_the_cli_error_line_masks_before_it_cuts(secret, leaked, cut_at):
    """`halo`'s one error line cut at 300 characters, then masked: an address or URL the cut went
    through was no longer one for the masks, and its first part was printed (jane.doe@examp,
    postgresql://app:hu)."""
    from halo_platform.cli import first_line
    from halo_platform.core.errors import HaloError

    shown = first_line(HaloError("x" * cut_at + secret + "\nSQL: SELECT 1"))
    assert leaked not in shown and len(shown) <= 300 and "SQL" not in shown


@pytest.mark.parametrize("text", ["x" * 50_000, "x" * 50_000 + "@", "+" + "a" * 50_000, "%" * 50_000, "a@" + "b" * 50_000,
                                  "a@" + "b." * 25_000, "b." * 25_000 + "://u:p@h", "a://" + "b" * 50_000, "+1 2 " * 10_000],
                         ids=["letters", "letters-then-at", "plus-then-letters", "percents", "at-then-letters",
                              "dotted-domain", "dotted-scheme", "long-user", "spaced-number-starts"])
def test_masking_a_long_run_without_spaces_takes_linear_time(text):
    """Any log line or provider text goes through mask_text: a 50,000-character run without spaces
    took 10-20 s (the address rule tried every start, each to the run's end); 50 kB is 0.1 s now."""
    started = time.perf_counter()
    mask_text(text)
    assert time.perf_counter() - started < 2.0


def test_an_address_after_another_in_one_run_is_masked_too():
    assert mask_text("ada@b.org+bob.smith@example.com") == "a***@b.org+***@example.com"


@pytest.mark.parametrize("key", ["mobile", "mobıle", "MOBİLE", "Mobile_No"])
def test_a_phone_key_is_read_as_the_key_rule_reads_it_whatever_its_letters(key):
    """`PHONE_KEY` ignores case as `re` does, where İ and ı are an i: a key it names a phone, written
    so (`mobıle`), kept its number whole, as the look for a phone word before it read the text by `str.lower`."""
    assert mask_text(f'{{"{key}": "0612345678"}}') == f'{{"{key}": "061****678"}}'


# what the rules look for, and what a test of it could misread: letters `re.IGNORECASE` folds (İ ı ſ K),
# digits of other scripts (`\d`), escapes, encodings, separators; as keys and values, and loose
_KEYS = ["phone", "mobıle", "MOBİLE", "msiſdn", "tel", "Fax", "to", "from", "password", "paſſword", "api_key", "Access-Key", "Authorization",
         "tokEn", "SİG", "sig", "secret", "value", "system", "x", "Kod"]
_SEPARATORS = ["=", ": ", '": "', "='", '\\": \\"', ":", " = "]
_VALUES = ["0612345678", "33612345678", "+33612345678", "+33 6 12 34 56 78", "(+33) 6 12 34 56 78", "%2B33612345678", "%2b33+6+12+34+56+78", "%2B33 6 12 34 56 78",
           "٣٣٦١٢٣٤٥٦٧٨", "Bearer abc123", "key=abc", "ada@example.com", "ada%40example.com", "z\\u00e9@b\\u00fc.de", "phone", "abc"]
_LOOSE = ["PID|", "NK1|", "MSH|^~\\&|", "\r", "\\r", "\n", "{", "}", "://", "https://user:pw@h/", "@", "?", "&", "/callbacks/x?",
          "/inbound/y?", "halo_0123456789ab_", "AIza", "%28", "%29", "%20", "+", "(", ")", " ", "*", "é", "K"]
_TEXTS = st.lists(st.one_of(st.tuples(st.sampled_from(_KEYS), st.sampled_from(_SEPARATORS), st.sampled_from(_VALUES)).map("".join),
                            st.sampled_from(_KEYS + _VALUES + _LOOSE), st.text(alphabet="0123456789+@%.-() abBz", max_size=6), st.text(max_size=3)),
                  max_size=10).map("".join)


@settings(max_examples=max(100, int(os.environ.get("HALO_FUZZ_EXAMPLES", "20000")) // 20), deadline=None, database=None)
@given(_TEXTS)
def test_each_rule_is_skipped_only_where_it_cannot_match(text):
    """`mask_text` skips a rule where its test says no match of it can be in the text: the same text as
    every rule applied in turn, as it was before the tests (they saved 10-50 us of a provider's error line)."""
    from halo_platform.core.redact import _RULES

    every = text
    for _, mask in _RULES:
        every = mask(every) if every else every
    assert mask_text(text) == every


@pytest.mark.parametrize(("text", "masked"), [
    ("phone: %4033612345678@example.com", "phone: %***@example.com"),
    ("%40ada@example.com", "%***@example.com"),
    ("a%40b%40example.com", "a***%40example.com"),
    ("ada%40example.com", "a***%40example.com"),
])
def test_an_address_is_cut_at_its_last_at_sign(text, masked):
    """An address's local part may hold `%40` (an escaped `@`; its domain cannot): cut at the first
    one, `%4033612345678@example.com` was masked as `***%4033612345678@...`, the number whole."""
    assert mask_text(text) == masked
    assert mask_text(masked) == masked


def test_httpx_request_lines_show_no_webhook_token_of_a_url_path(caplog):
    """httpx logs each request at INFO, URL whole: `HTTP Request: POST https://hooks.slack.com/services/T0/B0/<token>`.
    A Slack or webhook sink's URL is its secret (its path, or a `?token=` query), and the masks knew
    neither: the token reached the log of any process logging at INFO. The filter shows an httpx
    URL as `mask_url_path` does (scheme, host, first path segment), for a real request's line too."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from halo_platform.core.redact import install_redaction

    class Answer(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    install_redaction()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger="httpx"):
            httpx.post(f"http://127.0.0.1:{server.server_port}/services/T0/B0/s3cr3tTOKEN?token=qu3ryTOKEN", content=b"{}")
    finally:
        server.shutdown()
        server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == [f'HTTP Request: POST http://127.0.0.1:{server.server_port}/services/*** "HTTP/1.1 200 OK"'], lines
    rec = record('HTTP Request: %s %s "%s %d %s"', ("POST", httpx.URL("https://hooks.slack.com/services/T0/B0/s3cr3t"), "HTTP/1.1", 200, "OK"), "httpx")
    RedactingFilter().filter(rec)
    assert rec.getMessage() == 'HTTP Request: POST https://hooks.slack.com/services/*** "HTTP/1.1 200 OK"'
