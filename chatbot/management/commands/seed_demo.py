from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatbot.demo import DEFAULT_EMAIL, DEFAULT_PASSWORD, NotADemoAccount, load_demo, pseudo_embeddings


class Command(BaseCommand):
    help = "Create the demo account (conversations, documents, settings), replacing a previous demo account."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", default=DEFAULT_EMAIL, help=f"Sign-in email (default {DEFAULT_EMAIL}).")
        parser.add_argument("--password", default=DEFAULT_PASSWORD, help="Password (default: the documented one).")
        parser.add_argument(
            "--pseudo-embeddings",
            action="store_true",
            dest="pseudo",
            help="Skip the embedding model (seconds faster); semantic search over the demo passages is then arbitrary.",
        )

    def handle(self, *args, email: str, password: str, pseudo: bool, **options) -> None:
        try:
            counts = load_demo(email=email, password=password, embed=pseudo_embeddings if pseudo else None)
        except NotADemoAccount as error:
            raise CommandError(str(error)) from error
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count}")
        self.stdout.write(self.style.SUCCESS(f"Demo account ready: sign in as {email.strip().lower()}"))
