from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import guests_purge_inactive


class Command(BaseCommand):
    help = "Delete guest users inactive for GUEST_RETENTION_DAYS (or --days), with everything they own."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.GUEST_RETENTION_DAYS,
            help=f"inactive this many days or more (default GUEST_RETENTION_DAYS, {settings.GUEST_RETENTION_DAYS})",
        )

    def handle(self, *args, days: int, **options) -> None:
        if days < 0:  # a cutoff in the future: every guest, those chatting right now included
            raise CommandError(f"--days must be 0 or more, not {days}")
        self.stdout.write(f"deleted {guests_purge_inactive(older_than_days=days)} inactive guest(s)")
