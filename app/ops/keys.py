"""Encryption key management: `flask omnicrm keys generate | status | rotate`, start-up check.

Rotation re-encrypts every value of every encrypted column (and every encrypted export file)
with the first key of ENCRYPTION_KEYS, so older keys can then be removed. It walks each table
by primary key in batches, committing each batch, and skips values already under the current
key: an interrupted run is simply started again. Each write is a compare-and-swap on the old
ciphertext, so a row the application changes meanwhile is never overwritten with stale data.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import click
import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_appbuilder.models.sqla import Base
from sqlalchemy.exc import SQLAlchemyError

from app import db, import_models
from app.audit import service as audit_service
from app.core import crypto
from app.core.context import acting_as, cli_actor
from app.media import storage
from app.media.models import MediaFile
from app.privacy.export_file import EXPORT_MAGIC

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500


@dataclass
class EncryptedTable:
    """One table holding encrypted columns, keyed by a single integer primary key."""

    name: str
    pk: str
    columns: list[str]


@dataclass
class TableResult:
    table: str
    rows: int = 0
    values: int = 0
    rotated: int = 0
    stale: int = 0  # changed by the application while we worked: already current
    by_column: dict[str, int] = field(default_factory=dict)


def encrypted_tables(metadata: sa.MetaData | None = None) -> list[EncryptedTable]:
    """Every table with an EncryptedText/EncryptedJSON column, found from the models."""
    import_models()
    metadata = metadata if metadata is not None else Base.metadata
    found = []
    for table in metadata.sorted_tables:
        cols = [c.name for c in table.columns if isinstance(c.type, crypto.EncryptedText | crypto.EncryptedJSON)]
        if not cols:
            continue
        pks = list(table.primary_key.columns)
        if len(pks) != 1:
            raise RuntimeError(f"table {table.name} has encrypted columns but no single-column primary key")
        found.append(EncryptedTable(table.name, pks[0].name, cols))
    return found


def _raw(spec: EncryptedTable) -> sa.TableClause:
    """The table with plain Text columns: we read and write ciphertext, not plain values."""
    return sa.table(spec.name, sa.column(spec.pk), *(sa.column(c, sa.Text) for c in spec.columns))


def _batches(spec: EncryptedTable, batch_size: int) -> Iterator[list[sa.Row[Any]]]:
    """Keyset pagination by primary key (no OFFSET, stable while rows are added)."""
    t = _raw(spec)
    pk = t.c[spec.pk]
    last = None
    while True:
        query = sa.select(pk, *(t.c[c] for c in spec.columns)).order_by(pk).limit(batch_size)
        if last is not None:
            query = query.where(pk > last)
        rows = db.session.execute(query).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _rotate_value(spec: EncryptedTable, column: str, pk: object, token: str) -> str:
    try:
        return crypto.rotate_token(token)
    except (InvalidToken, crypto.DecryptionError) as exc:
        raise crypto.DecryptionError(
            f"{spec.name}.{column} (id={pk}) cannot be decrypted with any key in ENCRYPTION_KEYS: "
            "put back the key that encrypted it, then run the rotation again"
        ) from exc


def rotate_table(
    spec: EncryptedTable,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    progress: Callable[[TableResult, int], None] | None = None,
) -> TableResult:
    """Re-encrypt one table's values with the current key, one committed batch at a time."""
    t = _raw(spec)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(t)) or 0
    result = TableResult(spec.name, by_column={c: 0 for c in spec.columns})
    for rows in _batches(spec, batch_size):
        updates: dict[str, list[dict[str, Any]]] = {c: [] for c in spec.columns}
        for row in rows:
            pk = row[0]
            for i, column in enumerate(spec.columns, start=1):
                token = row[i]
                if token is None:
                    continue
                result.values += 1
                if crypto.is_current(token):
                    continue
                new = token if dry_run else _rotate_value(spec, column, pk, token)
                updates[column].append({"_pk": pk, "_old": token, "_new": new})
        result.rows += len(rows)
        if dry_run:
            for column, items in updates.items():
                result.rotated += len(items)
                result.by_column[column] += len(items)
        else:
            for column, items in updates.items():
                if not items:
                    continue
                stmt = (
                    sa.update(t)
                    .where(t.c[spec.pk] == sa.bindparam("_pk"), t.c[column] == sa.bindparam("_old"))
                    .values({column: sa.bindparam("_new")})
                )
                # One statement per row: rowcount tells us whether the compare-and-swap hit.
                for item in items:
                    hit = db.session.execute(stmt, item).rowcount
                    if hit:
                        result.rotated += 1
                        result.by_column[column] += 1
                    else:
                        result.stale += 1
            db.session.commit()
        if progress:
            progress(result, total)
    return result


def _export_files() -> list[str]:
    path = current_app.config.get("EXPORT_DIR") or ""
    if not path or not os.path.isdir(path):
        return []
    return sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(".enc"))


def rotate_export_file(path: str, dry_run: bool = False) -> bool:
    """Re-encrypt one export file chunk by chunk (same length-prefixed format); True if changed."""
    with open(path, "rb") as fin:
        if fin.read(len(EXPORT_MAGIC)) != EXPORT_MAGIC:
            logger.warning("skipping %s: not an Omni CRM export file", os.path.basename(path))
            return False
        chunks = []
        while header := fin.read(4):
            (length,) = struct.unpack(">I", header)
            chunks.append(fin.read(length))
    if all(crypto.is_current_bytes(c) for c in chunks):
        return False
    if dry_run:
        return True
    tmp = path + ".rotating"
    with open(tmp, "wb") as fout:
        os.chmod(tmp, 0o600)
        fout.write(EXPORT_MAGIC)
        for chunk in chunks:
            token = crypto.rotate_bytes(chunk)
            fout.write(struct.pack(">I", len(token)))
            fout.write(token)
    os.replace(tmp, path)
    return True


def rotate_all(
    batch_size: int = DEFAULT_BATCH_SIZE,
    tables: list[str] | None = None,
    dry_run: bool = False,
    echo: Callable[[str], None] = lambda _msg: None,
) -> list[TableResult]:
    """Rotate every encrypted table (or the named ones) and export file; audit each table."""
    specs = encrypted_tables()
    if tables:
        unknown = set(tables) - {s.name for s in specs}
        if unknown:
            raise click.UsageError(f"no encrypted columns in: {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in tables]
    verb = "would re-encrypt" if dry_run else "re-encrypted"

    def show(result: TableResult, total: int) -> None:
        echo(f"  {result.table}: {result.rows}/{total} rows scanned, {result.rotated} value(s) {verb}")

    results = []
    for spec in specs:
        echo(f"{spec.name} ({', '.join(spec.columns)})")
        result = rotate_table(spec, batch_size=batch_size, dry_run=dry_run, progress=show)
        if result.rows == 0:
            echo(f"  {spec.name}: empty")
        if not dry_run:
            audit_service.record(
                "keys_rotated",
                None,
                None,
                {"table": spec.name, "rows": result.rows, "reencrypted": result.rotated, "columns": spec.columns},
            )
            db.session.commit()
        results.append(result)
    if not tables:
        files = _export_files()
        changed = sum(1 for path in files if rotate_export_file(path, dry_run=dry_run))
        echo(f"export files: {len(files)} found, {changed} {verb}")
        if files and not dry_run:
            audit_service.record(
                "keys_rotated", None, None, {"table": "export_files", "rows": len(files), "reencrypted": changed}
            )
            db.session.commit()
        results.append(TableResult("export_files", rows=len(files), values=len(files), rotated=changed))
        results.append(_rotate_media(dry_run, verb, echo))
    return results


def _rotate_media(dry_run: bool, verb: str, echo: Callable[[str], None]) -> TableResult:
    """Every stored attachment file (`MEDIA_DIR`) re-encrypted with the first key."""
    stored_keys = [
        k for k in db.session.scalars(sa.select(MediaFile.storage_key).where(MediaFile.storage_key.is_not(None))) if k
    ]
    db.session.rollback()
    changed = sum(1 for key in stored_keys if storage.rotate(key, dry_run=dry_run))
    echo(f"media files: {len(stored_keys)} found, {changed} {verb}")
    if stored_keys and not dry_run:
        audit_service.record(
            "keys_rotated", None, None, {"table": "media_files", "rows": len(stored_keys), "reencrypted": changed}
        )
        db.session.commit()
    return TableResult("media_files", rows=len(stored_keys), values=len(stored_keys), rotated=changed)


def check_stored_sample(app: Flask) -> None:
    """Start-up check: one stored value per encrypted column must decrypt with ENCRYPTION_KEYS.

    A wrong key otherwise shows up much later as garbage or a 500 deep in a request. A database
    that is unreachable or not migrated yet is not our concern here (readiness reports it).
    """
    if not app.config.get("ENCRYPTION_STARTUP_CHECK", True):
        return

    # Small tables whose values are rarely NULL first; one sample is enough to catch a wrong key
    # (`keys status` checks every value), and stopping there keeps start-up fast on big tables.
    first = {"page": 0, "message": 1, "webhook_event": 2}
    try:
        specs = sorted(encrypted_tables(), key=lambda s: first.get(s.name, 9))
        with db.engine.connect() as conn:
            for spec in specs:
                t = _raw(spec)
                for column in spec.columns:
                    try:
                        row = conn.execute(
                            sa.select(t.c[spec.pk], t.c[column]).where(t.c[column].is_not(None)).limit(1)
                        ).first()
                    except SQLAlchemyError:
                        conn.rollback()  # table not there yet (before `flask db upgrade`)
                        continue
                    if row is None:
                        continue
                    try:
                        crypto.decrypt(row[1])
                    except crypto.DecryptionError as exc:
                        raise crypto.CryptoConfigError(
                            f"ENCRYPTION_KEYS cannot decrypt data already stored ({spec.name}.{column}, "
                            f"id={row[0]}): the key that encrypted it is missing or wrong. Put the old key "
                            "back (after the new one, comma-separated) and run `flask omnicrm keys rotate` "
                            "before removing it."
                        ) from exc
                    return
    except SQLAlchemyError as exc:
        logger.warning("encryption start-up check skipped: database not reachable (%s)", type(exc).__name__)


def register(group: AppGroup) -> None:
    """Add `flask omnicrm keys ...`."""
    keys = AppGroup("keys", help="Encryption keys (ENCRYPTION_KEYS): generate, status, rotate.")
    group.add_command(keys)

    @keys.command("generate")
    def generate_command() -> None:
        """Print a new Fernet key. Put it FIRST in ENCRYPTION_KEYS, keep the old ones after it."""
        click.echo(crypto.generate_key())

    @keys.command("status")
    @click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 100000))
    def status_command(batch_size: int) -> None:
        """Count values not yet under the first key (0 everywhere: old keys can be removed)."""
        click.echo(f"{crypto.key_count()} key(s) configured in ENCRYPTION_KEYS")
        results = rotate_all(batch_size=batch_size, dry_run=True, echo=click.echo)
        pending = sum(r.rotated for r in results)
        click.echo(
            "all values are under the current key" if pending == 0 else f"{pending} value(s) still under older keys"
        )

    @keys.command("rotate")
    @click.option("--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 100000))
    @click.option("--table", "tables", multiple=True, help="Only this table (repeatable). Default: all.")
    def rotate_command(batch_size: int, tables: tuple[str, ...]) -> None:
        """Re-encrypt every encrypted value with the first key of ENCRYPTION_KEYS (resumable)."""
        if crypto.key_count() == 1:
            click.echo("note: only one key configured; values under other keys could not be read anyway")
        try:
            with acting_as(cli_actor()):
                results = rotate_all(batch_size=batch_size, tables=list(tables) or None, echo=click.echo)
        except crypto.DecryptionError as exc:
            raise click.ClickException(str(exc)) from exc
        total = sum(r.rotated for r in results)
        click.echo(f"done: {total} value(s) re-encrypted with the current key")
