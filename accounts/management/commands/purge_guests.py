from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from accounts.services import guests_purge_inactive


class Command(BaseCommand):
    help = "Delete guest users inactive for GUEST_RETENTION_DAYS (or --days), with everything they own."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"inactive this many days or more, 0 for every guest (default GUEST_RETENTION_DAYS, "
            f"{settings.GUEST_RETENTION_DAYS}, where 0 keeps guests)",
        )

    def handle(self, *args, days: int | None, **options) -> None:
        if days is None and settings.GUEST_RETENTION_DAYS <= 0:
            self.stdout.write("GUEST_RETENTION_DAYS is 0: guests are kept")
            return
        if days is not None and days < 0:  # a cutoff in the future: every guest, those chatting right now included
            raise CommandError(f"--days must be 0 or more, not {days}")
        self.stdout.write(f"deleted {guests_purge_inactive(older_than_days=days)} inactive guest(s)")
