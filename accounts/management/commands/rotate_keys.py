from django.core.management.base import BaseCommand, CommandError

from accounts.services import provider_keys_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored API key under the newest key in KEY_ENCRYPTION_KEYS (put the new key first)."

    def handle(self, *args, **options) -> None:
        rotated, failed = provider_keys_rotate()
        self.stdout.write(f"re-encrypted {rotated} key(s)")
        if failed:
            raise CommandError(f"{failed} key(s) could not be decrypted with any configured key (see the audit log)")
