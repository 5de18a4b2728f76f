from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.services import guests_purge_inactive


class Command(BaseCommand):
    help = "Delete guest users inactive for GUEST_RETENTION_DAYS (or --days), with everything they own."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=settings.GUEST_RETENTION_DAYS)

    def handle(self, *args, days: int, **options) -> None:
        self.stdout.write(f"deleted {guests_purge_inactive(older_than_days=days)} inactive guest(s)")
