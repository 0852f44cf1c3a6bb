"""The payload schema GET /v1/tasks publishes says what the service refuses: a client validating a
payload against it (jsonschema) took an unknown field and a sink named twice, both refused (422)."""

from __future__ import annotations

import jsonschema
import pytest

from halo_platform.core.errors import HaloError
from halo_platform.reports.api import list_tasks
from halo_platform.reports.task import get_task


@pytest.mark.parametrize("task", [t["task"] for t in list_tasks()])
def test_the_published_schema_refuses_what_the_service_refuses(task) -> None:  # noqa: ANN001
    schema = next(t["payload_schema"] for t in list_tasks() if t["task"] == task)
    jsonschema.Draft202012Validator.check_schema(schema)
    for refused in ({"no_such_field": 1}, {"sinks": ["outbox", "outbox"]}):
        with pytest.raises(HaloError):
            get_task(task).validate_payload(refused)
        assert not jsonschema.Draft202012Validator(schema).is_valid(refused), refused
    assert jsonschema.Draft202012Validator(schema).is_valid({"sinks": ["outbox"]})
