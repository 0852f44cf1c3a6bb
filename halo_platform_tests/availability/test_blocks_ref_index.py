"""Only FHIR Slots have a ref (their Schedule), so the blocks' ref index holds the blocks with a
ref alone on SQLite and PostgreSQL (migration availability_0007; down again gives back the whole
index), and finding a Schedule's Slots still goes through it."""

from alembic import command

from halo_platform.core.engine import make_engine
from halo_platform.core.store import StoreResource, _alembic_config, migrate

INDEX = "ix_scheduling_item_blocks_ref"


def test_the_ref_index_is_partial_after_the_migration_and_whole_again_after_its_downgrade(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")

    def ddl() -> str:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (INDEX,)).scalar_one()

    command.upgrade(_alembic_config(engine), "availability_0004")
    assert "WHERE" not in ddl()
    migrate(engine)
    assert ddl().endswith("WHERE ref IS NOT NULL")
    with engine.connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT s.item_id FROM scheduling_item_blocks s WHERE s.feed = ? AND s.ref = ?", ("fhir", "S1")).fetchall()
    assert any(INDEX in str(step) for step in plan)
    command.downgrade(_alembic_config(engine), "availability_0004")
    assert "WHERE" not in ddl()
    engine.dispose()


def test_the_ref_index_is_partial_on_postgresql(fresh_pg_url):
    store = StoreResource(db_url=fresh_pg_url)
    with store.read() as conn:
        definition = conn.exec_driver_sql("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (INDEX,)).scalar_one()
    store.dispose()
    assert definition.endswith("WHERE (ref IS NOT NULL)")
