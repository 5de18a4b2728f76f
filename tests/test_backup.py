"""`manage.py backup` and `manage.py restore`: a round trip through a scratch database finds the same rows and
files."""

from __future__ import annotations

import json
import tarfile
import uuid
from io import StringIO
from pathlib import Path

import psycopg
import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection

from chatbot.backups import BackupError, backup_restore, pg_tool
from tests import factories


def connect(database: dict, name: str | None = None) -> psycopg.Connection:
    params = {"dbname": name or database["NAME"], "user": database["USER"], "host": database["HOST"]}
    params |= {"port": database["PORT"], "password": database["PASSWORD"]}
    return psycopg.connect(**{key: value for key, value in params.items() if value}, autocommit=True)


@pytest.fixture
def scratch_database(transactional_db):
    """An empty database on the test server, dropped afterwards."""
    config = dict(connection.settings_dict, NAME=f"restore_{uuid.uuid4().hex[:8]}")
    with connect(connection.settings_dict) as admin:
        admin.execute(f'CREATE DATABASE "{config["NAME"]}"')
    yield config
    with connect(connection.settings_dict) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{config["NAME"]}" WITH (FORCE)')


def test_the_tools_come_from_the_pgserver_wheel_without_a_system_postgresql(monkeypatch):
    monkeypatch.delenv("PG_BIN_DIR", raising=False)
    assert "pgserver" in pg_tool("pg_dump") and "pgserver" in pg_tool("pg_restore")


def test_a_backup_restored_into_a_scratch_database_has_the_same_rows_and_files(scratch_database, settings, tmp_path):
    user = factories.UserFactory()
    conversation = factories.ConversationFactory(user=user, title="Sourdough notes")
    messages = factories.MessageFactory.create_batch(3, conversation=conversation)
    attachment = factories.AttachmentFactory(conversation=conversation, message=messages[0])
    document = factories.DocumentFactory(owner=user, file=ContentFile(b"my handbook\n", name="handbook.txt"))
    factories.ChunkFactory(document=document, owner=user)
    media_files = {
        Path(attachment.file.path).relative_to(settings.MEDIA_ROOT): Path(attachment.file.path).read_bytes(),
        Path(document.file.path).relative_to(settings.MEDIA_ROOT): Path(document.file.path).read_bytes(),
    }

    out = StringIO()
    call_command("backup", str(tmp_path / "backups") + "/", stdout=out)
    written = Path(out.getvalue().split("Backup written to ")[1].split(" (")[0])
    assert written.parent == tmp_path / "backups" and written.name.startswith("backup-")
    with tarfile.open(written) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))
    assert "database.dump" in names and manifest["files"] == 2 and manifest["missing_files"] == []

    restored_media = tmp_path / "restored-media"
    result = backup_restore(path=written, database=scratch_database, media_root=restored_media)

    assert result == {"files": 2, "already_there": 0}
    with connect(scratch_database) as restored:
        assert restored.execute("SELECT title FROM conversations WHERE id = %s", [conversation.id]).fetchone() == (
            "Sourdough notes",
        )
        rows = restored.execute("SELECT id FROM messages WHERE conversation_id = %s", [conversation.id])
        ids = {row[0] for row in rows}
        assert ids == {message.id for message in messages}
        assert restored.execute("SELECT count(*) FROM chunks WHERE document_id = %s", [document.id]).fetchone() == (1,)
        assert restored.execute("SELECT email FROM users WHERE id = %s", [user.id]).fetchone() == (user.email,)
        migrations = restored.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
    assert migrations > 10, "the schema and its migration history came along"
    for name, data in media_files.items():
        assert (restored_media / name).read_bytes() == data


def test_restore_refuses_a_database_that_is_not_empty(transactional_db, tmp_path):
    factories.ConversationFactory()
    backup = tmp_path / "one.tar"
    call_command("backup", str(backup), stdout=StringIO())
    with pytest.raises(CommandError, match="is not empty"):
        call_command("restore", str(backup), stdout=StringIO())


def test_restore_refuses_to_overwrite_a_file_that_differs(scratch_database, settings, tmp_path):
    attachment = factories.AttachmentFactory()
    backup = tmp_path / "one.tar"
    call_command("backup", str(backup), stdout=StringIO())
    Path(attachment.file.path).write_bytes(b"changed since")

    with pytest.raises(BackupError, match=r"already exist in .* with other contents"):
        backup_restore(path=backup, database=scratch_database, media_root=settings.MEDIA_ROOT)
    assert Path(attachment.file.path).read_bytes() == b"changed since"
    with connect(scratch_database) as restored:
        assert restored.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_restore_beside_the_files_it_backed_up_keeps_them(scratch_database, settings, tmp_path):
    # The README's recipe on the machine the backup came from: a new database, the same media volume. Every file
    # was refused as "already exists", so the recipe could not work there.
    kept, gone = factories.AttachmentFactory.create_batch(2)
    backup = tmp_path / "one.tar"
    call_command("backup", str(backup), stdout=StringIO())
    Path(gone.file.path).unlink()

    result = backup_restore(path=backup, database=scratch_database, media_root=settings.MEDIA_ROOT)

    assert result == {"files": 1, "already_there": 1}
    assert Path(gone.file.path).exists() and Path(kept.file.path).exists()


def test_a_backup_is_readable_by_its_owner_only(transactional_db, tmp_path):
    # It holds every password hash, encrypted API key and uploaded file; the umask made it world-readable.
    factories.ConversationFactory()
    backup = tmp_path / "one.tar"
    call_command("backup", str(backup), stdout=StringIO())
    assert backup.stat().st_mode & 0o777 == 0o600
    with tarfile.open(backup) as archive:
        assert archive.getmember("manifest.json").mtime > 0


@pytest.fixture
def one_backup(transactional_db, settings, tmp_path) -> Path:
    """A backup of a conversation with two attachments (two media files)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    conversation = factories.ConversationFactory()
    factories.AttachmentFactory.create_batch(2, conversation=conversation)
    backup = tmp_path / "one.tar"
    call_command("backup", str(backup), stdout=StringIO())
    return backup


def damaged_copies(backup: Path, folder: Path) -> dict[str, tuple[Path, str]]:
    """Copies of the backup an operator might be handed, with the words restore should answer each with."""
    data = backup.read_bytes()
    with tarfile.open(backup) as archive:
        last = archive.getmembers()[-1]
    copies = {
        "random bytes": (bytes(range(256)) * 20, "is not a tar file, or is damaged"),
        "cut in the middle of a file": (data[: last.offset_data + 10], "truncated or damaged"),
        # A copy cut exactly between two files reads as a valid, shorter archive.
        "cut between two files": (
            data[: last.offset],
            "is incomplete: its manifest lists 2 files, the archive holds 1",
        ),
    }
    other = folder / "other.tar"
    with tarfile.open(other, "w") as archive:
        archive.add(backup, arcname="something-else.tar")
    written = {name: (folder / f"{index}.tar", words) for index, (name, (_, words)) in enumerate(copies.items())}
    for name, (path, _words) in written.items():
        path.write_bytes(copies[name][0])
    written["another tar file"] = (other, "is not a backup made by `manage.py backup`")
    return written


def test_restore_refuses_a_damaged_or_foreign_file_with_what_is_wrong(one_backup, scratch_database, tmp_path):
    restored_media = tmp_path / "restored-media"
    for name, (path, words) in damaged_copies(one_backup, tmp_path).items():
        with pytest.raises(BackupError) as refused:
            backup_restore(path=path, database=scratch_database, media_root=restored_media)
        assert words in str(refused.value), name
        with connect(scratch_database) as restored:
            assert restored.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        assert not restored_media.exists(), name


def test_the_restore_command_says_what_is_wrong_without_a_traceback(one_backup, tmp_path):
    # Against the test database, which is not empty: the archive is read, and refused, before that is checked.
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"\x00\x01 not a backup" * 100)
    with pytest.raises(CommandError, match="is not a tar file, or is damaged"):
        call_command("restore", str(garbage), stdout=StringIO())
    with pytest.raises(CommandError, match="That is a folder"):
        call_command("restore", str(tmp_path), stdout=StringIO())
