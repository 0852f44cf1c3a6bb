"""The whole schema: every domain's tables on the shared declarative base, for migrations
(autogenerate, `python -m halo_platform.schema DOMAIN "what changed"`) and schema checks.

Each domain keeps its tables in its own module and its migrations on its own Alembic branch
(`core/migrations/versions/<domain>_NNNN_*.py`, `branch_labels` the domain name)."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa

from halo_platform.access import tables as access
from halo_platform.alerts import tables as alerts
from halo_platform.availability import tables as availability
from halo_platform.core.models import Base
from halo_platform.delivery import tables as delivery
from halo_platform.reports import tables as reports
from halo_platform.ui import tables as ui

TABLES: dict[str, ModuleType] = {"access": access, "alerts": alerts, "reports": reports, "availability": availability, "delivery": delivery, "ui": ui}
VERSIONS = Path(__file__).with_name("core") / "migrations" / "versions"


def all_metadata() -> sa.MetaData:
    """The metadata of every domain's tables."""
    return Base.metadata


def make_migration(domain: str, message: str) -> None:
    """Write the next migration of `domain`'s branch by autogenerate: migrate a scratch SQLite
    database to the current heads, compare it with the domain's tables, and write
    `versions/<domain>_NNNN_<slug>.py` on that domain's branch."""
    from alembic import command
    from alembic.script import ScriptDirectory

    from halo_platform.core.store import _alembic_config

    module = TABLES[domain].__name__
    tables = {m.local_table.name for m in Base.registry.mappers if m.class_.__module__ == module}
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/scratch.db")
        cfg = _alembic_config(engine)
        command.upgrade(cfg, "heads")
        script = ScriptDirectory.from_config(cfg)
        existing = [r for r in script.walk_revisions() if r.revision.startswith(domain + "_")]
        rev_id = f"{domain}_{len(existing) + 1:04d}"
        cfg.attributes["target_metadata"] = all_metadata()
        cfg.attributes["only_tables"] = tables
        command.revision(
            cfg,
            message=message,
            autogenerate=True,
            head=f"{domain}@head" if existing else "base",
            rev_id=rev_id,
            branch_label=None if existing else domain,
            version_path=str(VERSIONS),
        )
    for path in VERSIONS.glob(f"{rev_id}_*.py"):
        print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not re.match(r"^[a-z]+$", sys.argv[1]) or sys.argv[1] not in TABLES:
        sys.exit(f"usage: python -m halo_platform.schema {{{','.join(TABLES)}}} MESSAGE")
    make_migration(sys.argv[1], sys.argv[2])
