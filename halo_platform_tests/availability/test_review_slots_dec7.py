"""Review slots dec7: a FHIR Slot search by `service-type` answers Slots that match it as FHIR
search reads a token: against the codes of `Slot.serviceType`, not its text.

The fixtures are test_review_fhir19's: Asia/Kolkata (+05:30), F1 works 09:00-12:00 local and is
booked 10:00-10:30 on `day`, a week ahead; a `short` type of 15-minute slots beside the default."""

import pytest
from fhir.resources.R4B.bundle import Bundle

from halo_platform.http import create_app
from halo_platform_tests.availability.test_fhir_slots import day  # noqa: F401 (fixture)
from halo_platform_tests.availability.test_review_fhir19 import feeds_file  # noqa: F401 (fixture)
from halo_platform_tests.fixtures.access import authorized_client


@pytest.mark.parametrize("asked, types", [(None, {"default"}), ("short", {"short"}), ("default,short", {"default", "short"})])
def test_a_slot_found_by_service_type_carries_that_type_as_a_code(store, day, asked, types):  # noqa: F811
    """`service-type` is a token: FHIR matches it against `Slot.serviceType.coding.code`. The Slots
    carried their type only as `serviceType.text`, which a token search never matches, so a
    client checking (or reading) the code of what it searched for found none."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"schedule": "Schedule/fhir.F1", "start": f"eq{day}", **({"service-type": asked} if asked else {})}
    answer = client.get("/fhir/Slot", params=params)
    assert answer.status_code == 200, answer.text
    Bundle.model_validate(answer.json())
    entries = answer.json()["entry"]
    assert entries and {e["resource"]["serviceType"][0]["text"] for e in entries} == types
    for entry in entries:
        (service_type,) = entry["resource"]["serviceType"]
        assert [coding["code"] for coding in service_type["coding"]] == [service_type["text"]], entry
