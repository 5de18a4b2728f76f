from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from documents.models import Document
from documents.progress import ProgressBar
from documents.services import UploadRejected, document_ingest, document_upload

SUFFIXES = {".txt", ".md", ".markdown", ".pdf", ".docx", ".html", ".htm"}


class Command(BaseCommand):
    help = "Add every supported file under PATH to the shared knowledge base (owned by no user), embedding now."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        if not path.exists():
            raise CommandError(f"{path} does not exist")
        files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.suffix.lower() in SUFFIXES)
        if not files:
            raise CommandError(f"no .txt, .md, .pdf, .docx or .html files under {path}")
        bar = ProgressBar(len(files), label="ingest", stream=self.stdout)
        added = duplicates = failed = 0
        for file in files:
            try:
                result = document_upload(owner=None, filename=file.name, data=file.read_bytes())
            except UploadRejected as exc:
                failed += 1
                self.stderr.write(f"\n{exc.user_message}")
                bar.advance(note=file.name)
                continue
            if result.duplicate:
                duplicates += 1
            else:
                # Embedded here, in this process, so the command ends with everything searchable.
                document = document_ingest(document_id=result.document.id)
                if document.status == Document.Status.FAILED:
                    failed += 1
                    self.stderr.write(f"\n{file.name}: {document.error}")
                else:
                    added += 1
            bar.advance(note=file.name)
        bar.close()
        self.stdout.write(f"added {added}, already there {duplicates}, failed {failed}")
