from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.backups import BackupError, backup_restore


class Command(BaseCommand):
    help = (
        "Restore a backup made by `manage.py backup` into the (empty) database DATABASE_URL names and into "
        "MEDIA_ROOT. Create the database first (createdb); the command refuses one that has tables, a file in "
        "MEDIA_ROOT that differs from the backup's (one with the same bytes is kept), and an archive that is "
        "damaged or incomplete, before restoring anything."
    )
    requires_system_checks: list = []  # the database is empty: nothing to check against yet
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            restored = backup_restore(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        kept = f" ({restored['already_there']} more were there already, the same)" if restored["already_there"] else ""
        self.stdout.write(self.style.SUCCESS(f"Restored {path}: the database and {restored['files']} files{kept}"))
