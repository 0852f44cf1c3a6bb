"""The Control Center's message lookup (`find_message`): people hold ids as a ticket, an email or a
spreadsheet wrote them."""

from __future__ import annotations

import pytest

from halo_platform.core.errors import NotFoundError
from halo_platform.delivery.service import find_message, submit
from halo_platform_tests.delivery.test_callback_outcomes import _twilio


def test_a_person_finds_a_message_by_its_id_typed_in_upper_case(halo_store, fakes, providers_file):
    """A message id is a UUID, which RFC 9562 reads in either letter case; the lookup answered
    'no message' for the id a support tool had upper-cased. An idempotency key stays exact."""
    providers = providers_file({"tw": _twilio(fakes)})
    view, _ = submit("sms", {"to": "+33612345678", "body": "Your appointment", "idempotency_key": "Ref-7"}, store=halo_store, providers=providers)
    assert find_message(view["id"].upper(), halo_store)["id"] == view["id"]
    assert find_message(f"  {view['id'].upper()} ", halo_store)["id"] == view["id"]
    assert find_message("Ref-7", halo_store)["id"] == view["id"]
    with pytest.raises(NotFoundError):
        find_message("REF-7", halo_store)
