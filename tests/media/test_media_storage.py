"""The store under key rotation: `keys rotate` re-encrypts every stored attachment file."""

from __future__ import annotations

from cryptography.fernet import Fernet

from app.core import crypto
from app.devtools.fakegraph.cdn import png_bytes
from app.media import storage
from tests.media.media_helpers import blob_path, stored_file


def test_keys_rotate_reencrypts_media_files(app, cdn, conversation):
    suite_keys, new = app.config["ENCRYPTION_KEYS"], Fernet.generate_key().decode()
    try:
        row = stored_file(conversation, cdn.cdn_url("rotated.png"))
        before = blob_path(row.storage_key).read_bytes()
        crypto.configure(f"{new},{suite_keys}")
        result = app.test_cli_runner().invoke(args=["omnicrm", "keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "media files: 1 found, 1 re-encrypted" in result.output
        assert blob_path(row.storage_key).read_bytes() != before
        crypto.configure(new)  # the old keys are gone is gone: the file still opens
        assert storage.get(row.storage_key) == png_bytes("rotated.png")
    finally:
        crypto.configure(suite_keys)
