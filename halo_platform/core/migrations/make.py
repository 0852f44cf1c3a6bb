"""Developer tool: write the next migration of one domain's branch by autogenerate.

    python -m halo_platform.core.migrations.make DOMAIN "what changed"

It migrates a scratch SQLite database to the current heads, compares it with the
domain's models, and writes `versions/<domain>_NNNN_<slug>.py` on that domain's branch.
"""

import re
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from halo_platform.core.models import Base, all_metadata
from halo_platform.core.store import _alembic_config


def main(domain: str, message: str) -> None:
    all_metadata()
    tables = {m.local_table.name for m in Base.registry.mappers if m.class_.__module__ == f"halo_platform.{domain}.models"}
    with tempfile.TemporaryDirectory() as tmp:
        engine = sa.create_engine(f"sqlite:///{tmp}/scratch.db")
        cfg = _alembic_config(engine)
        command.upgrade(cfg, "heads")
        script = ScriptDirectory.from_config(cfg)
        existing = [r for r in script.walk_revisions() if r.revision.startswith(domain + "_")]
        number = len(existing) + 1
        rev_id = f"{domain}_{number:04d}"
        head = f"{domain}@head" if existing else "base"
        cfg.attributes["only_tables"] = tables
        command.revision(
            cfg,
            message=message,
            autogenerate=True,
            head=head,
            rev_id=rev_id,
            branch_label=None if existing else domain,
            version_path=str(Path(__file__).with_name("versions")),
        )
    for path in Path(__file__).with_name("versions").glob(f"{rev_id}_*.py"):
        print(f"wrote {path}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not re.match(r"^[a-z]+$", sys.argv[1]):
        sys.exit("usage: python -m halo_platform.core.migrations.make DOMAIN MESSAGE")
    main(sys.argv[1], sys.argv[2])
