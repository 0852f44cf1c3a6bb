"""A file quarantined whole keeps the error as its reason, masked before it is cut: an address or
a store URL with its password in the error (a driver's message) never reaches the quarantine."""

from halo_platform.availability.items import LandedFile


def test_the_reason_of_a_file_quarantined_whole_is_masked_then_cut():
    error = RuntimeError("connection to postgresql://app:hunter2@db:5432/halo failed for jane.doe@example.com "
                         + "x" * 470 + " +6281234567890\nINSERT INTO t VALUES ('secret')")
    reason = LandedFile.unprocessable("hl7/a.hl7", "0" * 64, error, b"MSH|").rejected[0].reason
    assert reason.startswith("file not processed: RuntimeError: connection to postgresql://")
    assert "hunter2" not in reason and "jane.doe" not in reason and "secret" not in reason
    cut = LandedFile.unprocessable("hl7/a.hl7", "0" * 64, RuntimeError("x" * 490 + " jane.doe@example.com"), b"").rejected[0].reason
    assert "jane.doe" not in cut and "@example" not in cut
