from django.core.management.base import BaseCommand, CommandParser

from chatbot.cleanup import cleanup_run


class Command(BaseCommand):
    help = (
        "Apply retention (seed 001): delete expired sessions, old reply-stream rows and orphaned files; archive "
        "conversations untouched for CONVERSATION_ARCHIVE_DAYS, delete them CONVERSATION_RETENTION_DAYS after "
        "archiving (when above 0); delete system messages older than SYSTEM_MESSAGE_RETENTION_DAYS. Pinned "
        "conversations are never touched. Works in batches of short transactions."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="print what each rule would do, change nothing")
        parser.add_argument("--archive-days", type=int, default=None, help="instead of CONVERSATION_ARCHIVE_DAYS")
        parser.add_argument("--retention-days", type=int, default=None, help="instead of CONVERSATION_RETENTION_DAYS")

    def handle(self, *args, dry_run: bool, archive_days: int | None, retention_days: int | None, **options) -> None:
        counts = cleanup_run(dry_run=dry_run, archive_days=archive_days, retention_days=retention_days)
        if dry_run:
            self.stdout.write("Dry run, nothing changed. What each rule would do:")
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count}")
