from django.core.management.base import BaseCommand
from django.db.models import Q

from documents.chunking import CHUNKER_VERSION
from documents.models import Document
from documents.progress import ProgressBar
from documents.services import document_ingest


class Command(BaseCommand):
    help = (
        "Re-chunk and re-embed documents, one at a time: those not yet indexed by the current chunker (after an "
        "upgrade that changed chunking), or every one with --all (e.g. after changing EMBEDDING_MODEL). "
        "Resumable: each document is replaced in its own transaction and marked with the chunker's version, so "
        "a run that was interrupted continues, when started again, with the documents it had not reached."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--all", dest="everything", action="store_true", help="every document, even those already up to date"
        )
        parser.add_argument("--failed-only", action="store_true", help="only documents whose ingestion failed")

    def handle(self, *args, everything: bool, failed_only: bool, **options) -> None:
        documents = Document.objects.order_by("created_at", "id")
        total = documents.count()
        if failed_only:
            documents = documents.filter(status=Document.Status.FAILED)
        elif not everything:
            # Containment, not a key lookup: a document without the key (older releases) must count as out of date,
            # where NOT (metadata->'chunker' = ...) would be NULL and leave it out.
            current = Q(status=Document.Status.READY, metadata__contains={"chunker": CHUNKER_VERSION})
            documents = documents.exclude(current)
        ids = list(documents.values_list("id", flat=True))
        if not everything and not failed_only:
            self.stdout.write(f"{total - len(ids)} of {total} document(s) already indexed by chunker {CHUNKER_VERSION}")
        bar = ProgressBar(len(ids), label="reindex", stream=self.stdout)
        done = failed = gone = 0
        for document_id in ids:
            try:
                document = document_ingest(document_id=document_id)
            except Document.DoesNotExist:  # deleted since the list was read
                gone += 1
                bar.advance(note="(deleted)")
                continue
            except Exception as exc:  # one broken document (a lost file) must not stop the others
                failed += 1
                self.stderr.write(f"\n{document_id}: {type(exc).__name__}: {exc}")
                bar.advance(note=str(document_id))
                continue
            if document.status == Document.Status.FAILED:
                failed += 1
            else:
                done += 1
            bar.advance(note=document.title)
        bar.close()
        self.stdout.write(
            f"reindexed {done} document(s), {failed} failed" + (f", {gone} deleted meanwhile" if gone else "")
        )
