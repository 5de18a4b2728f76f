"""Backups (seed 001's backup strategy): one file holding a pg_dump of the database and the media folder.

A backup is a tar archive:
    manifest.json   when, from which database, how many files, which referenced files were missing
    database.dump   pg_dump --format=custom: one consistent snapshot of the whole database (a single transaction)
    media/…         every file under MEDIA_ROOT, archived after the dump

The dump comes first: an upload that arrives while the media folder is archived is only an extra file (the cleanup
deletes it as an orphan after a restore); a file deleted in that window is listed in the manifest as missing.
Uploaded files are never rewritten in place (every upload gets a new name), so no file is half-copied.

pg_dump and pg_restore come from PG_BIN_DIR when set, else the pgserver wheel's own PostgreSQL 16 (installed with
the app, also in the Docker image), else the PATH. They must be at least the server's major version.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

from django.conf import settings

DUMP_NAME = "database.dump"
MANIFEST_NAME = "manifest.json"
MEDIA_PREFIX = "media"


class BackupError(Exception):
    pass


def pg_tool(name: str) -> str:
    """The path of pg_dump or pg_restore."""
    candidates = []
    if configured := os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(configured) / name)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
    except ImportError:
        pass
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    if found := shutil.which(name):
        return found
    raise BackupError(f"{name} was not found: install the PostgreSQL client or set PG_BIN_DIR.")


def libpq_environment(database: dict) -> dict[str, str]:
    """The connection as libpq variables (a unix socket directory is a host too), so no password is on a
    command line where `ps` would show it."""
    environment = dict(os.environ)
    mapping = {"PGHOST": "HOST", "PGPORT": "PORT", "PGUSER": "USER", "PGPASSWORD": "PASSWORD", "PGDATABASE": "NAME"}
    for variable, key in mapping.items():
        environment.pop(variable, None)
        if database.get(key):
            environment[variable] = str(database[key])
    for option, value in (database.get("OPTIONS") or {}).items():
        if option in {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}:
            environment[f"PG{option.upper()}"] = str(value)
    return environment


def _run(command: list[str], database: dict) -> None:
    result = subprocess.run(command, env=libpq_environment(database), capture_output=True, text=True)
    if result.returncode != 0:
        raise BackupError(f"{Path(command[0]).name} failed: {result.stderr.strip()[-2000:]}")


def default_path() -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return Path(settings.VAR_DIR) / "backups" / f"backup-{stamp}.tar"


def backup_create(
    *, path: str | Path | None = None, database: dict | None = None, media_root: Path | None = None
) -> Path:
    """Write a backup; a directory as path gets a time-stamped file in it. Returns the file written."""
    from chatbot.cleanup import referenced_files

    database = database or settings.DATABASES["default"]
    media_root = Path(media_root or settings.MEDIA_ROOT)
    folder = path is not None and (str(path).endswith(("/", os.sep)) or Path(path).is_dir())
    path = Path(path) / default_path().name if folder else Path(path or default_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory() as scratch:
        dump = Path(scratch) / DUMP_NAME
        _run([pg_tool("pg_dump"), "--format=custom", "--no-password", f"--file={dump}"], database)
        referenced = referenced_files()  # after the dump: a file deleted since is reported, not silently absent
        files = sorted(p for p in media_root.rglob("*") if p.is_file() and not p.is_symlink())
        names = {p.relative_to(media_root).as_posix() for p in files}
        manifest = {
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "database": database.get("NAME"),
            "files": len(files),
            "missing_files": sorted(referenced - names),
        }
        # Owner-only from the start: a backup holds every password hash, encrypted API key and uploaded file.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # a .partial left by a killed run keeps its old mode through O_CREAT
        with os.fdopen(descriptor, "wb") as handle, tarfile.open(fileobj=handle, mode="w") as archive:
            info = tarfile.TarInfo(MANIFEST_NAME)
            data = json.dumps(manifest, indent=2).encode()
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o600
            archive.addfile(info, io.BytesIO(data))
            archive.add(dump, arcname=DUMP_NAME)
            for file in files:
                archive.add(file, arcname=f"{MEDIA_PREFIX}/{file.relative_to(media_root).as_posix()}")
    partial.replace(path)  # never a half-written file under the final name
    return path


def backup_manifest(path: Path) -> dict:
    with tarfile.open(path) as archive:
        return json.load(archive.extractfile(MANIFEST_NAME))


def _checked_members(archive: tarfile.TarFile, path: Path) -> tuple[dict, list[tarfile.TarInfo]]:
    """The backup's manifest and media members, once the whole archive has been read through: a damaged, truncated
    or foreign file is refused before anything is restored, with what is wrong instead of a traceback."""
    try:
        members = archive.getmembers()  # reads every header: a file cut short fails here
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BackupError(f"{path} is truncated or damaged ({exc}); copy it again from where it was made.") from exc
    names = {member.name for member in members}
    if MANIFEST_NAME not in names or DUMP_NAME not in names:
        raise BackupError(
            f"{path} is not a backup made by `manage.py backup` (it has no {MANIFEST_NAME} or {DUMP_NAME})."
        )
    try:
        manifest = json.load(archive.extractfile(MANIFEST_NAME))
    except (ValueError, tarfile.TarError, OSError) as exc:
        raise BackupError(f"{path} has a damaged {MANIFEST_NAME} ({exc}).") from exc
    media = [m for m in members if m.name.startswith(f"{MEDIA_PREFIX}/") and m.isfile()]
    # A copy cut at the boundary between two files reads as a shorter, valid archive: the manifest's count tells.
    if isinstance(manifest.get("files"), int) and len(media) != manifest["files"]:
        raise BackupError(
            f"{path} is incomplete: its manifest lists {manifest['files']} files, the archive holds {len(media)} "
            "(truncated?); copy it again from where it was made."
        )
    return manifest, media


def database_is_empty(database: dict) -> bool:
    import psycopg

    params = {"dbname": database["NAME"], "user": database.get("USER") or None, "host": database.get("HOST") or None}
    params |= {"port": database.get("PORT") or None, "password": database.get("PASSWORD") or None}
    # The same TLS settings as pg_dump and pg_restore get (libpq_environment): sslmode=verify-full must hold here too.
    params |= {
        option: str(value)
        for option, value in (database.get("OPTIONS") or {}).items()
        if option in {"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout"}
    }
    with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%%'"
        ).fetchone()[0]
    return tables == 0


def backup_restore(*, path: Path, database: dict | None = None, media_root: Path | None = None) -> dict:
    """Restore a backup into an empty database and a media folder holding none of its files."""
    database = database or settings.DATABASES["default"]
    media_root = Path(media_root or settings.MEDIA_ROOT)
    path = Path(path)
    if not path.is_file():
        raise BackupError(
            f"No backup at {path}." + (" That is a folder: name one of its .tar files." if path.is_dir() else "")
        )
    try:
        archive = tarfile.open(path)  # noqa: SIM115 (closed by the with below, once it is known to open)
    except tarfile.TarError as exc:  # its text lists every compression tried, one a line
        raise BackupError(f"{path} is not a tar file, or is damaged: no archive header was found.") from exc
    except OSError as exc:
        raise BackupError(f"{path} cannot be read: {exc}") from exc
    with archive, tempfile.TemporaryDirectory() as scratch:
        _manifest, media = _checked_members(archive, path)
        if not database_is_empty(database):
            raise BackupError(
                f"The database {database['NAME']} is not empty: restore into a new, empty database (createdb), "
                "then point DATABASE_URL at it."
            )
        # Restoring on the machine the backup came from (the README's recipe: a new database, the same media
        # volume) finds its files already there. Uploads are never rewritten in place, so one with the same bytes
        # is that file: kept, not refused. Only a different file under the same name is.
        present = [m for m in media if (media_root / m.name.removeprefix(f"{MEDIA_PREFIX}/")).exists()]
        clashes = [m.name for m in present if not _same_file(archive, m, media_root)]
        if clashes:
            raise BackupError(
                f"{len(clashes)} files of the backup already exist in {media_root} with other contents, "
                f"e.g. {clashes[0]}; restore into an empty media folder"
            )
        media = [m for m in media if m not in present]
        archive.extract(DUMP_NAME, scratch, filter="data")
        _run(
            [
                pg_tool("pg_restore"),
                "--no-password",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={database['NAME']}",
                str(Path(scratch) / DUMP_NAME),
            ],
            database,
        )
        media_root.mkdir(parents=True, exist_ok=True)
        for member in media:
            member.name = member.name.removeprefix(f"{MEDIA_PREFIX}/")
            archive.extract(member, media_root, filter="data")  # the data filter refuses paths leaving the folder
    return {"files": len(media), "already_there": len(present)}


def _same_file(archive: tarfile.TarFile, member: tarfile.TarInfo, media_root: Path) -> bool:
    target = media_root / member.name.removeprefix(f"{MEDIA_PREFIX}/")
    if target.is_symlink() or not target.is_file() or target.stat().st_size != member.size:
        return False
    with archive.extractfile(member) as stored, target.open("rb") as existing:
        while block := stored.read(1 << 20):
            if existing.read(len(block)) != block:
                return False
    return True
