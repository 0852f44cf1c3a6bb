"""Alembic environment: runs against the engine handed over by `core.store.migrate`
(or by `halo_platform.schema.make_migration`, which hands over the whole schema's metadata
and limits autogenerate to one domain's tables). Upgrades need no metadata."""

from alembic import context

config = context.config
engine = config.attributes["engine"]
only_tables = config.attributes.get("only_tables")


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001, ANN201
    if only_tables is None:
        return True
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in only_tables


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=config.attributes.get("target_metadata"),
        render_as_batch=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
