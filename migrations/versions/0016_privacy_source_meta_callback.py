"""privacy_request.source: `facebook_callback` becomes `meta_callback` (DESIGN.md's name).

A data migration only (the column is a plain string); downgrade restores the old value so the
previous code reads its rows again. Audit rows are never rewritten.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OLD = "facebook_callback"
NEW = "meta_callback"


def _rename(old: str, new: str) -> None:
    op.execute(sa.text("UPDATE privacy_request SET source = :new WHERE source = :old").bindparams(new=new, old=old))


def upgrade() -> None:
    _rename(OLD, NEW)


def downgrade() -> None:
    _rename(NEW, OLD)
