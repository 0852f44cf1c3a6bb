"""`status` is a FHIR token search on a `code` (Slot.status, bound to the value set of the system
http://hl7.org/fhir/slotstatus): `system|code` naming that system is the code, as `code` is; a
token naming another system, or none (`|free`: a code with no system), matches no Slot, an empty
Bundle; `system|` of that system is any status. It was a 422 "unknown status" for every one of them. An unknown code of that system is
still a 422, as an unknown plain code is."""

import pytest

from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir19 import feeds_file  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir_dec7b import get

SYSTEM = "http://hl7.org/fhir/slotstatus"


@pytest.mark.parametrize(("status", "total"), [
    (f"{SYSTEM}|free", 10),
    (f"{SYSTEM}|busy,{SYSTEM}|free", 10),
    (f"busy,{SYSTEM}|free", 10),
    (f"{SYSTEM}|busy", 0),
    ("http://example.org/statuses|free", 0),  # another system's `free`
    ("|free", 0),  # a code without a system: Slot.status has its value set's
    (f"{SYSTEM}|", 10),  # FHIR's `system|`: any code of that system, free among them
])
def test_a_status_token_naming_its_system_is_read_as_fhir_reads_a_token(store, day, status, total):  # noqa: F811
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "service-type": "short", "status": status})
    assert answer.status_code == 200 and answer.json()["total"] == total, answer.text


@pytest.mark.parametrize("status", [f"{SYSTEM}|open", "open", f"{SYSTEM}|free,"])
def test_an_unknown_or_empty_status_code_is_still_a_422(store, day, status):  # noqa: F811
    answer = get(store, {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", "status": status})
    assert answer.status_code == 422 and answer.json()["error"].startswith("status: "), answer.text
