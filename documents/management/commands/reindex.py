from django.core.management.base import BaseCommand

from documents.models import Document
from documents.progress import ProgressBar
from documents.services import document_ingest


class Command(BaseCommand):
    help = "Re-embed every document (e.g. after changing EMBEDDING_MODEL), one document at a time."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--failed-only", action="store_true", help="only documents whose ingestion failed")

    def handle(self, *args, failed_only: bool, **options) -> None:
        documents = Document.objects.order_by("created_at")
        if failed_only:
            documents = documents.filter(status=Document.Status.FAILED)
        ids = list(documents.values_list("id", flat=True))
        bar = ProgressBar(len(ids), label="reindex", stream=self.stdout)
        failed = 0
        for document_id in ids:
            document = document_ingest(document_id=document_id)
            failed += document.status == Document.Status.FAILED
            bar.advance(note=document.title)
        bar.close()
        self.stdout.write(f"reindexed {len(ids) - failed} document(s), {failed} failed")
