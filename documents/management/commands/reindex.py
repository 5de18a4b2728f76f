from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from documents.chunking import CHUNKER_VERSION
from documents.models import Document
from documents.progress import ProgressBar
from documents.selectors import documents_indexed_as_configured
from documents.services import document_ingest


class Command(BaseCommand):
    help = (
        "Re-chunk and re-embed documents, one at a time: those not indexed by the current chunker and EMBEDDING_MODEL "
        "(after an upgrade that changed chunking, or a change of model), or every one with --all. "
        "Resumable: each document is replaced in its own transaction and marked with the chunker's version and the "
        "model, so a run that was interrupted continues, when started again without --all, with the documents it "
        "had not reached."
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
            # The embedding model counts too: after EMBEDDING_MODEL changes, a plain run redoes every document, and
            # an interrupted one continues where it stopped (--all would start again from the first).
            documents = documents.exclude(documents_indexed_as_configured())
        ids = list(documents.values_list("id", flat=True))
        if not everything and not failed_only:
            self.stdout.write(
                f"{total - len(ids)} of {total} document(s) already indexed by chunker {CHUNKER_VERSION} "
                f"and {settings.EMBEDDING_MODEL}"
            )
        bar = ProgressBar(len(ids), label="reindex", stream=self.stdout)
        done = failed = gone = 0
        for position, document_id in enumerate(ids):
            try:
                document = document_ingest(document_id=document_id)
            except KeyboardInterrupt:
                bar.close()
                if everything:  # done ones keep their vectors: a new run only parses and cuts them again
                    again = "`manage.py reindex --all` starts again from the first, faster"
                else:
                    again = f"`manage.py reindex{' --failed-only' if failed_only else ''}` continues with the rest"
                raise CommandError(
                    f"interrupted after {position} of {len(ids)} document(s); {again}", returncode=130
                ) from None
            except Document.DoesNotExist:  # deleted since the list was read
                gone += 1
                bar.advance(note="(deleted)")
                continue
            except Exception as exc:  # one broken document (a lost file) must not stop the others
                failed += 1
                self.stderr.write(f"{bar.line_break}{document_id}: {type(exc).__name__}: {exc}")
                bar.advance(note=str(document_id))
                continue
            if document.status == Document.Status.FAILED:
                failed += 1
                self.stderr.write(f"{bar.line_break}{document.title}: {document.error}")
            else:
                done += 1
            bar.advance(note=document.title)
        bar.close()
        self.stdout.write(
            f"reindexed {done} document(s), {failed} failed" + (f", {gone} deleted meanwhile" if gone else "")
        )
