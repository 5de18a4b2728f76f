from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from documents.models import Document
from documents.parsing import DOCUMENT_SUFFIXES, SUPPORTED_FORMATS
from documents.progress import ProgressBar
from documents.services import UploadRejected, document_ingest, document_upload

# A Sphinx build's copies of its pages' sources, and its pickled trees: the pages themselves are read.
SKIPPED_FOLDERS = {"_sources", ".doctrees"}


class Command(BaseCommand):
    help = (
        "Add every supported file under PATH to the shared knowledge base (owned by no user), embedding them here "
        "(no Celery task is queued). Resumable: a file stored by an interrupted run is ingested by the next."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        files = sorted(
            p
            for p in ([path] if path.is_file() else path.rglob("*"))
            if p.suffix.lower() in DOCUMENT_SUFFIXES and not SKIPPED_FOLDERS.intersection(p.relative_to(path).parts)
        )
        if not files:
            raise CommandError(f"no {SUPPORTED_FORMATS} files under {path}")
        # The bar counts files (known up front) and moves within a file as its chunks are embedded.
        bar = ProgressBar(len(files), label="ingest", stream=self.stdout, unit="files")
        added = duplicates = failed = chunks = position = 0
        try:
            for position, file in enumerate(files):
                try:
                    # Not queued: this process embeds it now, so the command ends with everything searchable; a
                    # queued task as well would have a running worker embed every file a second time.
                    result = document_upload(owner=None, filename=file.name, data=file.read_bytes(), queue=False)
                except UploadRejected as exc:
                    failed += 1
                    self.stderr.write(f"{bar.line_break}{exc.user_message}")
                    bar.advance(note=file.name)
                    continue
                # Known already: ready, or failed (`manage.py reindex --failed-only` retries those).
                if result.duplicate and result.document.status in {Document.Status.READY, Document.Status.FAILED}:
                    duplicates += 1
                    bar.advance(note=file.name)
                    continue

                def embedded(done: int, total: int, position=position, name=file.name, before=chunks) -> None:
                    count = before + done
                    bar.update(position + done / total, note=name, detail=f"{count} chunks, {bar.rate(count)}")

                # New, or stored by a run that stopped before embedding it: ingested now.
                document = document_ingest(document_id=result.document.id, on_progress=embedded)
                if document.status == Document.Status.FAILED:
                    failed += 1
                    self.stderr.write(f"{bar.line_break}{file.name}: {document.error}")
                else:
                    added += 1
                    chunks += document.chunk_count
                bar.update(position + 1, note=file.name, detail=f"{chunks} chunks, {bar.rate(chunks)}")
        except KeyboardInterrupt:
            bar.close()
            # The file in hand is back to waiting (document_ingest), and is taken first by the next run.
            raise CommandError(
                f"interrupted after {position} of {len(files)} files (added {added}); run the same command again "
                "to continue",
                returncode=130,
            ) from None
        bar.close()
        self.stdout.write(f"added {added}, already there {duplicates}, failed {failed}; {chunks} chunks embedded")
