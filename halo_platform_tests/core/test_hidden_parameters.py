"""A failed statement's error names no bound value: the values are patients' phone numbers and
emails, and the error's text reaches logs, run failure events and alerts. Every engine the
product makes hides its parameters (SQLAlchemy `hide_parameters=True`)."""

import duckdb
import pytest
import sqlalchemy as sa

from halo_platform.core.store import StoreResource
from halo_platform.core.warehouses import WarehousesResource

PHONE, EMAIL = "+6281234567890", "siti.rahma@example.com"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_a_failed_insert_into_the_store_keeps_its_values_out_of_the_error(backend, halo_env, request):
    url = {"sqlite": None, "postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}[backend]
    store = StoreResource(db_url=request.getfixturevalue(url) if url else None)
    try:
        with pytest.raises(sa.exc.DBAPIError) as failed, store.write() as conn:
            conn.execute(sa.text("INSERT INTO task_alert_locks (task, recipient) VALUES (:task, :recipient)"),
                         {"task": EMAIL, "recipient": PHONE})
        text = str(failed.value)
        assert "recipient" in text  # the statement is named ...
        assert PHONE not in text and EMAIL not in text  # ... its values are not
    finally:
        store.dispose()


def test_a_failed_warehouse_query_keeps_its_values_out_of_the_error(tmp_path):
    sa.create_engine(f"sqlite:///{tmp_path / 'wh.db'}").dispose()
    path = tmp_path / "warehouses.yaml"
    path.write_text(f"warehouses:\n  lite: {{url: \"sqlite:///{tmp_path / 'wh.db'}\"}}\n")
    warehouses = WarehousesResource(warehouses_file=str(path))
    with pytest.raises(Exception) as failed:  # noqa: PT011 - whatever carries the error, its text is the point
        warehouses.load(duckdb.connect(), "t", "lite", "SELECT phone FROM patients WHERE phone = :phone", {"phone": PHONE})
    assert "patients" in str(failed.value) and PHONE not in str(failed.value)
