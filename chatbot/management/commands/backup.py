from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.backups import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (a consistent pg_dump, custom format) and the media folder into one tar file. PATH: "
        "a file, or a folder to write backup-<time>.tar in (default: var/backups/)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default=None)

    def handle(self, *args, path: str | None, **options) -> None:
        try:
            written = backup_create(path=path)
        except BackupError as error:
            raise CommandError(str(error)) from error
        from chatbot.backups import backup_manifest

        manifest = backup_manifest(written)
        if manifest["missing_files"]:
            self.stderr.write(
                f"{len(manifest['missing_files'])} files rows point at were missing (deleted while backing up?): "
                "listed in the backup's manifest.json"
            )
        self.stdout.write(self.style.SUCCESS(f"Backup written to {written} ({manifest['files']} files)"))
