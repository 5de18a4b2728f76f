from django.core.management.base import BaseCommand

from chatbot.cleanup import cleanup_run


class Command(BaseCommand):
    help = (
        "Apply retention: delete expired sessions, old reply-stream rows and, when CONVERSATION_RETENTION_DAYS "
        "(or --conversation-days) is above 0, conversations inactive that long (pinned ones are kept)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
        parser.add_argument("--conversation-days", type=int, default=None)

    def handle(self, *args, dry_run: bool, conversation_days: int | None, **options) -> None:
        counts = cleanup_run(dry_run=dry_run, conversation_retention_days=conversation_days)
        verb = "would delete" if dry_run else "deleted"
        for label, count in counts.items():
            self.stdout.write(f"{verb} {count} {label}")
