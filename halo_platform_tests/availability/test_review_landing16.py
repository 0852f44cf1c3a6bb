"""EMR landing under review (land16): a landed file the platform may not read, and a feed whose
S3 landing is misconfigured, hold back no other file or feed; a feed's new day is asked for while
another feed has files; two ingests of one name land both (each test failed before its fix)."""

import contextlib
import ctypes
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.availability.test_s3_landing import HOURS as S3_HOURS
from halo_platform_tests.availability.test_s3_landing import s3_feed  # noqa: F401 - the fixture

DAY = "2027-01-04"  # a Monday
HOURS = ('{"type":"hours","provider":"P1","tz":"UTC","week":{"mon":[["09:00","12:00"]]},'
         '"updated_at":"2026-11-01T00:00:00Z"}\n')
BOOKING = ('{"type":"appointment","action":"upsert","id":"A1","provider":"P1","start":"2027-01-04T10:00:00","duration_min":30,'
           '"tz":"UTC","status":"booked","updated_at":"2026-11-20T10:00:00Z"}\n')


@contextlib.contextmanager
def file_permissions_enforced() -> Iterator[None]:
    """The calling thread (and the threads it starts) without CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH: as root too, a file of mode 000 cannot be read, as for the platform's
    user a drop user's file of mode 0600."""
    libc = ctypes.CDLL(None, use_errno=True)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    caps = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable: low then high words
    assert libc.capget(header, caps) == 0
    saved = list(caps)
    caps[0] &= ~0b110
    assert libc.capset(header, caps) == 0
    try:
        yield
    finally:
        caps[:] = saved
        assert libc.capset(header, caps) == 0


def test_a_landed_file_that_cannot_be_read_holds_back_no_other_file_nor_the_sensor(halo_env, store):
    """A file of the landing zone the platform may not read (an SFTP drop user's, mode 0600): its
    PermissionError came out of the listing, so every sensor tick failed (no run for any feed) and
    `halo emr process` processed nothing. Now the other files go through, and the run fails naming
    the file, which stays pending until it can be read (never quarantined)."""
    land("acme", "hours.jsonl", HOURS)
    secret = land("acme", "late.jsonl", BOOKING)
    secret.chmod(0)
    with file_permissions_enforced():
        with pytest.raises(PermissionError):
            secret.read_bytes()
        with dg.DagsterInstance.ephemeral() as instance, dg.build_sensor_context(
                instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
            result = emr_landing_sensor(context)
        assert [r.run_config["ops"]["scheduling_items"]["config"]["files"] for r in result.run_requests] == [
            ["acme/hours.jsonl", "acme/late.jsonl"]]
        with pytest.raises(Exception, match=r"1 landed file\(s\) not read, left pending: acme/late\.jsonl: .*Permission denied"):
            process(store, DAY, 1)
        assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/late.jsonl"]
    assert quarantined(store, "acme") == []
    secret.chmod(0o644)  # the permission fixed: the file is processed, hours.jsonl went through before
    assert process(store, DAY, 1).files == 1
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T10:00Z"), (f"{DAY}T10:30Z", f"{DAY}T12:00Z")]
    assert process(store, DAY, 1).files == 0


def test_a_feed_whose_s3_landing_is_misconfigured_holds_back_no_other_feed(s3_feed, store, tmp_path, monkeypatch):  # noqa: F811
    """A new clinic's feed added with an endpoint_url lacking its scheme: its error came out of
    `halo emr process` before any feed was processed, and every read of another feed's S3 object
    resolved the object's landing through every feed's, so `cloud`'s objects were never processed
    (each run failed on them). Now the misconfigured feed is named and the others are processed."""
    feeds = tmp_path / "feeds-new-clinic.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n"
                     f"  cloud: {{format: acme, landing: 's3://emr-landing/clinic-a/', endpoint_url: '{s3_feed.endpoint_url}'}}\n"
                     "  newclinic: {format: acme, landing: 's3://emr-landing/clinic-b/', endpoint_url: 'localhost:9000'}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    s3_feed.client().put_object(Bucket="emr-landing", Key="clinic-a/hours.jsonl", Body=S3_HOURS.encode())
    land("acme", "hours.jsonl", HOURS)
    day = dt.date.fromisoformat(DAY)
    with pytest.raises(Exception, match=r"^feed newclinic: endpoint_url must be an http\(s\) URL; processed acme, cloud$"):
        process(store, DAY, 1)
    assert spans_on(store, "cloud", "S1", DAY) == [(f"{day}T09:00Z", f"{day}T12:00Z")]
    assert spans_on(store, "acme", "P1", DAY) == [(f"{day}T09:00Z", f"{day}T12:00Z")]
    assert pipeline.pending_files(store, get_feed("cloud")) == []
    assert quarantined(store, "cloud") == []


def test_a_new_day_of_one_feed_is_requested_while_another_feed_has_files_pending(halo_env, store, tmp_path, monkeypatch):
    """The sensor asked for a feed's moved window (a new day, dates left dirty) only at a tick
    where no feed at all had a pending file: while one clinic's feed kept receiving files (or
    held a file whose runs failed, backing off for up to an hour), another feed's new day got no
    spans. Now each feed with work and no file gets its window run at the same tick."""
    from halo_platform.availability.sensors import REQUEST_TAG
    from halo_platform_tests.availability.test_pipeline_edges import HOURS as WEEK_HOURS
    from halo_platform_tests.availability.test_pipeline_edges import evaluate

    feeds = tmp_path / "two-clinics.yaml"
    feeds.write_text("feeds:\n  acme: {format: acme}\n  clinic2: {format: acme}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    land("acme", "hours.jsonl", WEEK_HOURS)
    land("clinic2", "hours.jsonl", WEEK_HOURS)
    today = pipeline.today()
    process(store, (today - dt.timedelta(days=1)).isoformat(), pipeline.DEFAULT_HORIZON_DAYS)  # yesterday's window
    land("acme", "booking.jsonl", BOOKING.replace("2027-01-04", (today + dt.timedelta(days=3)).isoformat()))
    with dg.DagsterInstance.ephemeral() as instance:
        result = evaluate(instance, store)
    assert sorted(r.tags[REQUEST_TAG].split("@")[0] for r in result.run_requests) == ["acme/booking.jsonl", "clinic2/window"]


def test_two_ingests_of_one_name_at_once_land_both_contents(halo_env, tmp_path, monkeypatch):
    """`halo emr ingest` never overwrites a landed file, but it looked for one before copying and
    renamed its copy over whatever was there after: a second `halo emr ingest` of another
    bookings.jsonl (another clinic's export) landing while the first was copied was replaced by
    it, its content lost unprocessed. Now the copy takes the name only if it is free."""
    from halo_platform.availability import landing

    first, second = tmp_path / "a" / "bookings.jsonl", tmp_path / "b" / "bookings.jsonl"
    for path, text in ((first, BOOKING), (second, BOOKING.replace('"A1"', '"A2"'))):
        path.parent.mkdir()
        path.write_text(text)
    real = landing.shutil.copyfileobj

    def copy_while_another_lands(source, target, *args):  # noqa: ANN001, ANN002, ANN202
        monkeypatch.setattr(landing.shutil, "copyfileobj", real)
        assert landing.ingest(get_feed("acme"), second).name == "bookings.jsonl"
        return real(source, target, *args)

    monkeypatch.setattr(landing.shutil, "copyfileobj", copy_while_another_lands)
    landed = landing.ingest(get_feed("acme"), first)
    folder = landed.parent
    assert (folder / "bookings.jsonl").read_text() == second.read_text()
    assert landed.name.startswith("bookings-") and landed.read_text() == BOOKING
    assert sorted(p.name for p in folder.iterdir()) == sorted(["bookings.jsonl", landed.name])  # no temporary file left


def test_ingest_lands_a_file_where_the_file_system_has_no_hard_links(halo_env, tmp_path, monkeypatch):
    """The copy takes its name with a hard link (taken only if free); a landing folder on a file
    system without them (an SMB share: link(2) answers EPERM) still lands files, by a rename as
    before, and never over another file's content."""
    import errno

    from halo_platform.availability import landing

    def no_links(*_args):  # noqa: ANN002, ANN202
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(landing.os, "link", no_links)
    first, second = tmp_path / "a" / "bookings.jsonl", tmp_path / "b" / "bookings.jsonl"
    for path, text in ((first, BOOKING), (second, BOOKING.replace('"A1"', '"A2"'))):
        path.parent.mkdir()
        path.write_text(text)
    landed = landing.ingest(get_feed("acme"), first)
    assert landed.name == "bookings.jsonl" and landed.read_text() == BOOKING
    assert landing.ingest(get_feed("acme"), first) == landed  # the same content: the same file
    other = landing.ingest(get_feed("acme"), second)
    assert other.name.startswith("bookings-") and other.read_text() == second.read_text() and landed.read_text() == BOOKING
    assert sorted(p.name for p in landed.parent.iterdir()) == sorted([landed.name, other.name])  # no temporary file left
