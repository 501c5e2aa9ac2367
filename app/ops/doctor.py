"""`flask omnicrm doctor`: is this installation whole? Run it after a restore or a key change.

A database restored without its keys, or with another installation's keys, starts and serves
pages but cannot read messages, fails the audit head signature and lets erased people's late
webhook events back in. Each check prints one OK/FAIL line with what to do; any FAIL exits 1.
"""

from __future__ import annotations

import smtplib
import sys
from collections.abc import Callable
from dataclasses import dataclass

import click
import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import InvalidToken
from flask import current_app
from flask.cli import AppGroup

from app import db
from app.audit.verify import verify_chain
from app.contacts.models import Contact
from app.core import crypto
from app.core.crypto import keyed_hash
from app.core.queues import get_redis
from app.ops.keys import encrypted_tables


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_migrations() -> Check:
    """The database's alembic revision must be the code's head (else: `flask db upgrade`)."""
    config = current_app.extensions["migrate"].migrate.get_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    if current == heads:
        return Check("migrations", True, f"database at {', '.join(sorted(heads))} (the code's head)")
    have = ", ".join(sorted(current)) or "none"
    return Check(
        "migrations",
        False,
        f"database at {have}, code expects {', '.join(sorted(heads))}: run `flask db upgrade` "
        "as the role that owns the tables (or restore the matching code version)",
    )


def check_keys() -> Check:
    """ENCRYPTION_KEYS must decrypt the stored data: the newest value of every encrypted column."""
    tried = 0
    with db.engine.connect() as conn:
        for spec in encrypted_tables():
            for column in spec.columns:
                t = sa.table(spec.name, sa.column(spec.pk), sa.column(column, sa.Text))
                query = sa.select(t.c[spec.pk], t.c[column]).where(t.c[column].is_not(None))
                row = conn.execute(query.order_by(t.c[spec.pk].desc()).limit(1)).first()
                if row is None:
                    continue
                tried += 1
                try:
                    crypto.decrypt(row[1])
                except (InvalidToken, ValueError, TypeError):
                    return Check(
                        "keys",
                        False,
                        f"{spec.name}.{column} (id {row[0]}) cannot be decrypted: ENCRYPTION_KEYS must hold "
                        "the key(s) this database was written with (restore them with the backup)",
                    )
    if not tried:
        return Check("keys", True, "no encrypted value stored yet")
    return Check("keys", True, f"ENCRYPTION_KEYS decrypt a sample of {tried} encrypted column(s)")


def check_audit() -> Check:
    """The audit chain verifies (the head signature needs the SECRET_KEY it was written with)."""
    result = verify_chain()
    if result.ok:
        return Check("audit", True, f"audit chain verifies ({result.rows} rows)")
    hint = " (is SECRET_KEY the one this database was written with?)" if "signature" in result.reason else ""
    return Check("audit", False, f"audit chain broken at row {result.broken_id}: {result.reason}{hint}")


def check_psid_hash_key() -> Check:
    """PSID_HASH_KEY must be the key the erased contacts' tombstones were hashed with.

    A tombstone keeps only the hash, so the key is checked on live contacts (same key, and
    their PSID is still known); with none, it can't be checked from the database alone.
    """
    c = Contact.__table__.c
    with db.engine.connect() as conn:
        tombstones = conn.execute(sa.select(sa.func.count()).where(c.erased_at.is_not(None))).scalar_one()
        live = conn.execute(
            sa.select(c.id, c.psid, c.psid_hash)
            .where(c.erased_at.is_(None), c.psid.is_not(None), c.psid_hash.is_not(None))
            .order_by(c.id.desc())
            .limit(5)
        ).all()
    if not live:
        return Check("psid_hash_key", True, f"{tombstones} erased contact(s); no live contact to check the key on")
    wrong = [r.id for r in live if keyed_hash(r.psid) != r.psid_hash]
    if wrong:
        return Check(
            "psid_hash_key",
            False,
            f"contact(s) {wrong} hash differently: PSID_HASH_KEY (or SECRET_KEY, its default) is not the one "
            f"this database was written with; {tombstones} erased contact(s) would not be recognised",
        )
    return Check("psid_hash_key", True, f"key matches; {tombstones} erased contact(s) will stay erased")


def check_redis() -> Check:
    """Queues, rate limits and locks live in Redis."""
    try:
        get_redis().ping()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return Check("redis", False, f"Redis not reachable ({exc.__class__.__name__}: {exc}): check REDIS_URL")
    return Check("redis", True, "Redis reachable")


def check_mail() -> Check:
    """Requester notices need a mail server: in production the embedded one keeps mail here."""
    cfg = current_app.config
    if not cfg.get("MAIL_SERVER"):
        if cfg.get("OMNICRM_ENV") == "production":
            return Check("mail", False, "MAIL_SERVER is not set: notices stay on this machine (Admin -> Outbox)")
        return Check("mail", True, "embedded SMTP server (mail is kept under MAIL_STORE_DIR, shown at Admin -> Outbox)")
    host, port = str(cfg["MAIL_SERVER"]), int(cfg.get("MAIL_PORT") or 25)
    try:
        with smtplib.SMTP(host, port, timeout=5) as smtp:
            smtp.noop()
    except (OSError, smtplib.SMTPException) as exc:
        problem = f"SMTP server {host}:{port} not reachable ({exc.__class__.__name__})"
        return Check("mail", False, f"{problem}: check MAIL_SERVER")
    return Check("mail", True, f"SMTP server {host}:{port} answers")


CHECKS: tuple[Callable[[], Check], ...] = (
    check_migrations,
    check_keys,
    check_audit,
    check_psid_hash_key,
    check_redis,
    check_mail,
)


def run_checks() -> list[Check]:
    """Every check, each on its own: one failing (or raising) does not hide the others."""
    results = []
    for fn in CHECKS:
        name = fn.__name__.removeprefix("check_")
        try:
            results.append(fn())
        except Exception as exc:  # noqa: BLE001 - report, don't crash the doctor
            results.append(Check(name, False, f"check raised {exc.__class__.__name__}: {exc}"))
    return results


@click.command("doctor")
def doctor_command() -> None:
    """Check a (restored) installation: migrations, keys, audit chain, PSID hash key, Redis."""
    results = run_checks()
    for r in results:
        click.echo(f"{'OK  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    if not all(r.ok for r in results):
        sys.exit(1)


def register(group: AppGroup) -> None:
    """Add `doctor` to `flask omnicrm`."""
    group.add_command(doctor_command)
