"""An email's `max_file_bytes` is on the whole message as it is sent: its headers, its text (with the
lines of the files sent as links), the MIME boundaries and part headers, and the files as base64. It
counted the files alone, and a relay whose size limit was the sink's refused the message (552) by the
rest of it: the report failed. A file left out only because it does not fit beside the others is said
so, never 'over the sink's max_file_bytes'. Against aiosmtpd with its SIZE limit (`size_limit`)."""

from __future__ import annotations

import pytest

from halo_platform.sinks import Delivery
from halo_platform_tests.sinks.test_links import email, resource

SERVED = "https://f.example/r/"


def links(tmp_path) -> dict:  # noqa: ANN001
    return {"kind": "folder", "path": str(tmp_path / "served"), "url": SERVED}


def csv(path, rows: int, tag: str = "O1"):  # noqa: ANN001, ANN201
    path.write_text("order_id,issue\n" + f"{tag},MISSING_PAYMENT\n" * rows)
    return path


def relay_count(raw: bytes) -> int:
    """The bytes a relay counts in DATA: the message with a '.' doubled at the start of a line."""
    return len(raw) + raw.count(b"\r\n.") + raw.startswith(b".")


def test_a_file_whose_base64_fits_but_whose_message_does_not_goes_as_a_link_and_the_relay_takes_it(smtp_server, tmp_path):
    """21850 bytes take 29904 as base64, under a limit of 30000: the file was attached, and the message
    (some 400 bytes more of headers, text and MIME parts) was refused by a relay whose limit is the
    sink's (552, the report failed). It goes as a link, and the relay takes the message."""
    smtp_server.switches.size_limit = 30_000
    report = tmp_path / "report.bin"
    report.write_bytes(b"x" * 21_850)
    sinks = resource(tmp_path, {"finance_email": email(smtp_server, max_file_bytes=30_000, link_store="links"),
                                "links": links(tmp_path)})
    outcome = sinks.deliver("finance_email", Delivery("weekly report", "3 issues", [report]))
    assert outcome.status == "DELIVERED", outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {} and relay_count(mail.raw) <= 30_000
    assert f"report.bin (21850 bytes) is too large to attach: {SERVED}report.bin" in mail.text()
    assert outcome.detail == "over the sink's max_file_bytes (30000), sent as a link via links: report.bin (21850 bytes)"


@pytest.mark.parametrize("size", [0, 1, 57, 10_244])
@pytest.mark.parametrize("room", [0, -1])
def test_an_emails_limit_is_the_message_as_the_relay_counts_it_to_the_byte(size, room, smtp_server, tmp_path):
    """The message the relay counts (headers beyond ASCII, a text line starting with '.', doubled in
    DATA, a file's MIME part and base64) fits a limit of exactly its size: the file is attached, and a
    relay with that limit takes it. One byte less and the file goes as a link, which that relay takes."""
    report = tmp_path / "Größe.csv"
    report.write_bytes(bytes(range(256)) * (size // 256) + b"t" * (size % 256))
    delivery = Delivery("Wochenbericht März", "3 issues\n.see the file", [report])
    assert resource(tmp_path, {"e": email(smtp_server)}).deliver("e", delivery).status == "DELIVERED"
    whole = relay_count(smtp_server.messages.wait_for(1)[0].raw)
    smtp_server.reset()

    smtp_server.switches.size_limit = whole + room
    sinks = resource(tmp_path, {"e": email(smtp_server, max_file_bytes=whole + room, link_store="links"), "links": links(tmp_path)})
    outcome = sinks.deliver("e", delivery)
    assert outcome.status == "DELIVERED", outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert relay_count(mail.raw) == whole if room == 0 else relay_count(mail.raw) < whole
    assert mail.attachments == ({"Größe.csv": report.read_bytes()} if room == 0 else {})


def test_a_file_that_fits_until_the_links_lines_are_in_the_text_goes_as_a_link_too(smtp_server, tmp_path):
    """The lines of the files sent as links are part of the message: a file that fit the limit before
    they were written made, with them, a message the relay refused. It goes as a link as well."""
    first, big = csv(tmp_path / "a.csv", 400), csv(tmp_path / "big.csv", 4000, "O2")
    assert resource(tmp_path, {"e": email(smtp_server)}).deliver("e", Delivery("weekly report", "3 issues", [first])).status == "DELIVERED"
    limit = relay_count(smtp_server.messages.wait_for(1)[0].raw) + 20  # the message with a.csv alone, and 20 bytes
    smtp_server.reset()

    smtp_server.switches.size_limit = limit
    sinks = resource(tmp_path, {"e": email(smtp_server, max_file_bytes=limit, link_store="links"), "links": links(tmp_path)})
    outcome = sinks.deliver("e", Delivery("weekly report", "3 issues", [first, big]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert outcome.targets == ["mailto:f*****e@example.com", *((tmp_path / "served" / n).as_uri() for n in ("big.csv", "a.csv"))]
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {} and relay_count(mail.raw) <= limit
    assert f"big.csv ({big.stat().st_size} bytes) is too large to attach: {SERVED}big.csv" in mail.text()
    assert f"a.csv ({first.stat().st_size} bytes) is too large to attach: {SERVED}a.csv" in mail.text()


def test_a_file_that_does_not_fit_beside_the_others_is_said_so_and_one_over_the_limit_alone_as_before(smtp_server, tmp_path):
    """b.csv fits the limit alone, not beside a.csv: it was said to be 'over the sink's max_file_bytes'
    (in the delivery's detail), which it is not. The detail and the email's text say it did not fit
    beside the other attachments; big.csv, over the limit alone, is said to be over it."""
    smtp_server.switches.size_limit = 30_000
    first, second, big = csv(tmp_path / "a.csv", 700), csv(tmp_path / "b.csv", 700, "O2"), csv(tmp_path / "big.csv", 2000, "O3")
    sinks = resource(tmp_path, {"e": email(smtp_server, max_file_bytes=30_000, link_store="links"), "links": links(tmp_path)})
    outcome = sinks.deliver("e", Delivery("weekly report", "3 issues", [first, big, second]))
    assert outcome.status == "DELIVERED", outcome.detail
    assert outcome.detail == (
        f"over the sink's max_file_bytes (30000), sent as a link via links: big.csv ({big.stat().st_size} bytes); "
        "not attached: it did not fit in the message beside the other attachments (max_file_bytes 30000 is on the whole "
        f"message), sent as a link via links: b.csv ({second.stat().st_size} bytes)")
    (mail,) = smtp_server.messages.wait_for(1)
    assert mail.attachments == {"a.csv": first.read_bytes()}
    assert f"big.csv ({big.stat().st_size} bytes) is too large to attach: {SERVED}big.csv" in mail.text()
    assert f"b.csv ({second.stat().st_size} bytes) did not fit in this email beside the other attachments: {SERVED}b.csv" in mail.text()



@pytest.mark.parametrize("room", [0, -1])
def test_three_attachments_fit_a_limit_of_their_message_to_the_byte(room, smtp_server, tmp_path):
    """Each file adds its MIME part to the message: three files fit a limit of exactly the message
    that carries them all; one byte less and the last goes as a link, the relay taking the message."""
    files = [csv(tmp_path / f"{name}.csv", rows, name) for name, rows in (("a", 300), ("b", 10), ("c", 120))]
    delivery = Delivery("weekly report", "3 issues", files)
    assert resource(tmp_path, {"e": email(smtp_server)}).deliver("e", delivery).status == "DELIVERED"
    whole = relay_count(smtp_server.messages.wait_for(1)[0].raw)
    smtp_server.reset()

    smtp_server.switches.size_limit = whole + room
    sinks = resource(tmp_path, {"e": email(smtp_server, max_file_bytes=whole + room, link_store="links"), "links": links(tmp_path)})
    assert (outcome := sinks.deliver("e", delivery)).status == "DELIVERED", outcome.detail
    (mail,) = smtp_server.messages.wait_for(1)
    assert sorted(mail.attachments) == (["a.csv", "b.csv", "c.csv"] if room == 0 else ["a.csv", "b.csv"])
