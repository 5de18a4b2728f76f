"""Retrieval quality on a public documentation corpus: the app against two simple baselines, side by side.

    VAR_DIR=... .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/rag_quality.py [--levers]

Corpus (--corpus): "git", Git's manual pages, guides and technical notes as HTML from Debian's git-doc package (241
pages), the one the app was tuned on; or "pam", the Linux-PAM guides (libpam-doc: about 100 pages of DocBook's
chunked HTML, with its tables-of-contents pages), a check never tuned on; or "flask", Flask's documentation
(python-flask-doc: 73 pages of Sphinx's HTML, without Sphinx's index, search and not-found pages), another check;
or "pdf", 50 PDF manuals of LaTeX packages (texlive-latex-recommended-doc: 1,146 pages from pdfTeX, XeTeX, LuaTeX,
dvipdfmx, Acrobat Distiller, Ghostscript and MiKTeX; the package's examples, test files and typeset source code left
out), the app's PDF path.
Fetched with `apt-get download` on first use and unpacked under $VAR_DIR/bench/ (nothing of it is committed).
Questions: bench/data/<corpus>_questions.jsonl, written before any tuning, each with the pages that answer it and a
phrase of the answer found on the first of them; a fixed split (by the hash of the id) into "tune" and "held-out":
"tune" when the first byte of the id's SHA-256 is below 128 (Git's and Flask's files; PAM's split was drawn with
another hash, "tune" when SHA-1 of the id is even).

Systems, all on the same pages with the same all-MiniLM-L6-v2 model:
- app: every page through the app's own ingestion (document_upload, then document_ingest as the Celery task runs
  it: parse, chunk, embed, store), owned by a throwaway user, then documents.retrieval.retrieve with the default
  RetrievalOptions (top 5, threshold 0.25); MRR@10 from the same call with max_results=10;
- app before issue 13: the retrieval as it was (bench/retrieval_before.py) on the same ingested chunks;
- vector: the page's text (BeautifulSoup's get_text, as LangChain's BSHTMLLoader; for a PDF pypdf's extract_text of
  each page, joined with "\n\f" as LangChain's PyPDFLoader does in its "single" mode), a recursive character split of
  1000 characters with 100 of overlap (LangChain's RecursiveCharacterTextSplitter algorithm and separators), cosine
  top k;
- BM25: Okapi BM25 (k1 1.5, b 0.75, lower-cased word tokens) over those same chunks.

A hit is a passage from one of the question's pages; hit@k and MRR@10 are over passages as returned (the baselines
may return several passages of one page); "phrase@5" is the answer phrase (whitespace and case aside) in the text
of one of the top 5 passages. --levers also prints the tune half under variations of documents.retrieval.Tuning.
Printed, not asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import BASE_DIR, scratch_database


@dataclass(frozen=True)
class Corpus:
    package: str  # a Debian package of HTML documentation
    version: str  # the version the questions were written on (the archive's current one if it is gone)
    doc_root: Path  # the pages' folder inside the package
    questions: Path
    skip: frozenset[str] = frozenset()  # files under doc_root that are the generator's own pages, not documentation
    include: tuple[str, ...] = ()  # when set, only these files under doc_root (a chosen set)
    suffix: str = ".html"


PDF_MANUALS = (
    "latex/parskip/parskip.pdf",
    "latex/underscore/underscore.pdf",
    "latex/rcs/rcs-user.pdf",
    "latex/setspace/setspace-doc.pdf",
    "latex/cite/cite.pdf",
    "latex/cite/chapterbib.pdf",
    "latex/newfloat/newfloat.pdf",
    "latex/textcase/textcase.pdf",
    "latex/ms/multitoc.pdf",
    "latex/fp/documentation.pdf",
    "latex/euenc/euenc.pdf",
    "xelatex/xltxtra/xltxtra.pdf",
    "latex/section/section-doc.pdf",
    "latex/translator/translator.pdf",
    "latex/pdflscape/pdflscape.pdf",
    "latex/float/float.pdf",
    "latex/pdfpages/pdfpages.pdf",
    "latex/psfrag/pfgguide.pdf",
    "latex/metalogo/metalogo.pdf",
    "latex/eso-pic/eso-pic.pdf",
    "latex/fancyref/fancyref.pdf",
    "latex/caption/bicaption.pdf",
    "latex/mdwtools/footnote.pdf",
    "latex/mdwtools/mdwlist.pdf",
    "latex/footnotehyper/footnotehyper.pdf",
    "latex/booktabs/booktabs.pdf",
    "latex/ctable/ctable.pdf",
    "latex/index/index.pdf",
    "latex/lineno/ulineno.pdf",
    "latex/grffile/grffile.pdf",
    "latex/ragged2e/ragged2e.pdf",
    "latex/mathtools/empheq.pdf",
    "latex/fancyvrb/fancyvrb-doc.pdf",
    "latex/caption/subcaption.pdf",
    "latex/crop/crop.pdf",
    "latex/fancybox/fancybox-doc.pdf",
    "latex/unicode-math/unicode-math.pdf",
    "latex/typehtml/typehtml.pdf",
    "xelatex/mathspec/mathspec.pdf",
    "latex/latexbug/latexbug.pdf",
    "latex/microtype/microtype.pdf",
    "latex/mathtools/mathtools.pdf",
    "latex/etoolbox/etoolbox.pdf",
    "latex/seminar/seminar-doc.pdf",
    "latex/mdwtools/syntax.pdf",
    "latex/listings/listings.pdf",
    "latex/caption/caption.pdf",
    "latex/fontspec/fontspec.pdf",
    "latex/xcolor/xcolor.pdf",
    "latex/polyglossia/polyglossia.pdf",
)

CORPORA = {
    # The corpus the app was tuned on (its tune half).
    "git": Corpus("git-doc", "1:2.39.5-0+deb12u3", Path("usr/share/doc/git-doc"),
                  BASE_DIR / "bench" / "data" / "git_questions.jsonl"),
    # A check of another generator (DocBook's chunked HTML: tables-of-contents pages, navigation headers), never
    # tuned on: the Linux-PAM guides.
    "pam": Corpus("libpam-doc", "1.5.2-6+deb12u3", Path("usr/share/doc/libpam-doc/html"),
                  BASE_DIR / "bench" / "data" / "pam_questions.jsonl"),
    # A third generator, Sphinx (the Pallets theme: sidebars, "Navigation" bars, permalink signs, autodoc's API
    # reference), never tuned on: Flask's documentation. Sphinx's index, search and not-found pages are left out.
    "flask": Corpus("python-flask-doc", "2.2.2-3", Path("usr/share/doc/python-flask-doc/html"),
                    BASE_DIR / "bench" / "data" / "flask_questions.jsonl",
                    skip=frozenset({"genindex.html", "py-modindex.html", "search.html", "404.html"})),
    # PDF manuals (issue 13, tenth session of 2026-12-01): LaTeX packages' user guides, many typeset from their .dtx
    # source with the code after the guide, as users upload them. Not the package's example and test files, nor its
    # largest books (memoir's 615 pages, lwarp's 1,370), nor the "-code" volumes that are only typeset source.
    "pdf": Corpus("texlive-latex-recommended-doc", "2022.20230122-3", Path("usr/share/doc/texlive-doc"),
                  BASE_DIR / "bench" / "data" / "pdf_questions.jsonl", suffix=".pdf", include=PDF_MANUALS),
}  # fmt: skip
CORPUS = CORPORA["git"]
OWNER_EMAIL = "rag-quality-bench@example.com"
SPLITS = ("tune", "held-out")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()


# --- Corpus and questions ---------------------------------------------------------------------------------------


def fetch_corpus(dest: Path) -> None:
    """The corpus's Debian package, the pinned version if the archive still has it, else its current one (said so)."""
    dest.mkdir(parents=True, exist_ok=True)
    package, pinned = CORPUS.package, CORPUS.version
    with tempfile.TemporaryDirectory() as tmp:
        for spec in (f"{package}={pinned}", package):
            result = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True)
            if result.returncode == 0:
                break
            print(f"apt-get download {spec}: {result.stderr.strip().splitlines()[-1:]}")
        else:
            raise SystemExit(f"could not download {package} (run `apt-get update` first?)")
        [deb] = Path(tmp).glob("*.deb")
        if spec == package:
            print(f"note: {pinned} is gone from the archive; using {deb.name}")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
        (dest / "VERSION").write_text(deb.name + "\n")


def load_pages(root: Path) -> dict[str, bytes]:
    """Every HTML page (symbolic links are second names of pages, not pages; the corpus's skip list is left out), or
    the corpus's chosen files, by path under the doc folder."""
    folder = root / CORPUS.doc_root
    if CORPUS.include:
        return {name: (folder / name).read_bytes() for name in sorted(CORPUS.include)}
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob(f"*{CORPUS.suffix}"))
        if not path.is_symlink() and str(path.relative_to(folder)) not in CORPUS.skip
    }


def load_questions(pages: dict[str, bytes]) -> list[dict]:
    from bs4 import BeautifulSoup

    questions = [json.loads(line) for line in CORPUS.questions.read_text().splitlines() if line.strip()]
    texts = {}
    for question in questions:
        for page in question["pages"][:1]:
            if page not in texts:
                if CORPUS.suffix == ".pdf":
                    texts[page] = squash(page_text(pages[page]))
                else:
                    texts[page] = squash(BeautifulSoup(pages[page], "html.parser").get_text(" "))
            if squash(question["answer"]) not in texts[page]:
                print(f"warning: {question['id']}: the answer phrase is not on {page}")
    return questions


# --- Baselines --------------------------------------------------------------------------------------------------


PDF_TEXTS: dict[str, str] = {}  # a PDF's pypdf text by the file's hash (read once a run: about a minute)


def page_text(html: bytes) -> str:
    if html.startswith(b"%PDF"):
        return pdf_text(html)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup.get_text()


def pdf_text(data: bytes) -> str:
    """pypdf's extract_text of each page, joined as LangChain's PyPDFLoader does (mode "single", "\n\f")."""
    import io

    import pypdf

    key = hashlib.sha256(data).hexdigest()
    if key not in PDF_TEXTS:
        reader = pypdf.PdfReader(io.BytesIO(data))
        PDF_TEXTS[key] = "\n\f".join(page.extract_text() or "" for page in reader.pages)
    return PDF_TEXTS[key]


def recursive_split(text: str, size: int = 1000, overlap: int = 100) -> list[str]:
    """LangChain's RecursiveCharacterTextSplitter (keep_separator at the start, strip_whitespace), re-written."""

    def merge(splits: list[str]) -> list[str]:
        docs, current, total = [], [], 0
        for piece in splits:
            if total + len(piece) > size and current:
                joined = "".join(current).strip()
                if joined:
                    docs.append(joined)
                while total > overlap or (total + len(piece) > size and total > 0):
                    total -= len(current[0])
                    current = current[1:]
            current.append(piece)
            total += len(piece)
        joined = "".join(current).strip()
        if joined:
            docs.append(joined)
        return docs

    def split(text: str, separators: list[str]) -> list[str]:
        separator, rest = separators[-1], []
        for index, candidate in enumerate(separators):
            if candidate == "":
                separator = ""
                break
            if candidate in text:
                separator, rest = candidate, separators[index + 1 :]
                break
        if separator:
            parts = re.split(f"({re.escape(separator)})", text)
            pieces = [parts[0]] + [parts[i] + parts[i + 1] for i in range(1, len(parts) - 1, 2)]
            if len(parts) % 2 == 0:
                pieces.append(parts[-1])
        else:
            pieces = list(text)
        pieces = [piece for piece in pieces if piece]
        chunks, good = [], []
        for piece in pieces:
            if len(piece) < size:
                good.append(piece)
                continue
            if good:
                chunks.extend(merge(good))
                good = []
            chunks.extend(split(piece, rest) if rest else [piece])
        if good:
            chunks.extend(merge(good))
        return chunks

    return split(text, ["\n\n", "\n", " ", ""])


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class BM25:
    """Okapi BM25 (k1 1.5, b 0.75; idf = ln(1 + (N - df + 0.5) / (df + 0.5)))."""

    def __init__(self, documents: list[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.counts = [Counter(tokens(document)) for document in documents]
        self.lengths = np.array([sum(count.values()) for count in self.counts], dtype=float)
        self.average = self.lengths.mean()
        frequency = Counter(word for count in self.counts for word in count)
        n = len(documents)
        self.idf = {word: math.log(1 + (n - df + 0.5) / (df + 0.5)) for word, df in frequency.items()}
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for index, count in enumerate(self.counts):
            for word, tf in count.items():
                self.postings.setdefault(word, []).append((index, tf))

    def top(self, query: str, k: int) -> list[int]:
        scores = np.zeros(len(self.counts))
        for word in set(tokens(query)):
            for index, tf in self.postings.get(word, []):
                norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / self.average)
                scores[index] += self.idf[word] * tf * (self.k1 + 1) / (tf + norm)
        return list(np.argsort(-scores, kind="stable")[:k])


def embed_cached(texts: list[str], cache: Path) -> np.ndarray:
    """The model's vectors for texts, kept on disk by a hash of the texts (the baselines' chunks do not change)."""
    from django.conf import settings

    from documents.embedding import embed_texts

    key = hashlib.sha256("\0".join([settings.EMBEDDING_MODEL, *texts]).encode()).hexdigest()[:16]
    path = cache / f"embeddings-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.array(embed_texts(texts, batch_size=64), dtype=np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def cache_app_embeddings(path: Path) -> None:
    """The app's ingestion embeds through a per-text cache on disk (for measuring chunking variants: a variant
    re-embeds only the passages it changed). Vectors are the model's for the same text, so results are the same."""
    from django.conf import settings

    from documents import embedding

    model_embed = getattr(embedding, "embed_array", None)
    if model_embed is None:  # before embed_array: lists of floats
        model_embed = lambda texts, on_progress=None: np.array(embedding.embed_texts(texts), dtype=np.float32)  # noqa: E731
    backend = embedding.backend_in_use() if hasattr(embedding, "backend_in_use") else "sentence-transformers"
    cache: dict[str, np.ndarray] = {}
    if path.exists():
        stored = np.load(path)
        cache = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    pending = {"new": 0}

    def key(text: str) -> str:
        model = settings.EMBEDDING_MODEL
        if backend != "sentence-transformers":  # keys of torch's vectors are those of the first cached runs
            model += f"\0{backend}"
        return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()[:24]

    def save() -> None:
        keys = list(cache)
        np.savez(path, keys=np.array(keys), vectors=np.array([cache[k] for k in keys], dtype=np.float32))
        pending["new"] = 0

    def embed_array(texts: list[str], *, on_progress=None) -> np.ndarray:
        missing = list(dict.fromkeys(text for text in texts if key(text) not in cache))
        if missing:
            for text, vector in zip(missing, model_embed(missing), strict=True):
                cache[key(text)] = np.asarray(vector, dtype=np.float32)
        pending["new"] += len(missing)
        if pending["new"] >= 500:
            save()
        if on_progress:
            on_progress(len(texts))
        return np.array([cache[key(text)] for text in texts], dtype=np.float32).reshape(len(texts), -1)

    embedding.embed_array = embed_array
    embedding.embed_texts = lambda texts, *, batch_size=None: embed_array(texts).tolist()
    CACHE_SAVERS.append(save)


CACHE_SAVERS: list = []


def apply_variant(chunking: str, *, heading_embedding: bool, furniture: bool) -> None:
    """Chunking variants for --chunking, --no-heading-embedding and --no-furniture-drop (measuring levers)."""
    from functools import partial

    import documents.parsing.html as parsing_html
    from documents import chunking as chunking_module

    if chunking:
        options = {name: int(value) for name, value in (pair.split("=") for pair in chunking.split(","))}
        chunking_module.chunk_document = partial(chunking_module.chunk_document, **options)
    if not heading_embedding:
        chunking_module.ChunkDraft.embedding_text = property(lambda draft: draft.text)
    if not furniture:
        parsing_html._HTML_FURNITURE = frozenset()


# --- Metrics ----------------------------------------------------------------------------------------------------


def score(results: list[list[tuple[str, str]]], questions: list[dict]) -> dict[str, dict[str, float]]:
    """{split: {metric: value}} from each question's ranked (page, passage text) list."""
    table = {}
    for split in SPLITS:
        rows = [(q, r) for q, r in zip(questions, results, strict=True) if q["split"] == split]
        ranks = []
        phrase = 0
        for question, ranked in rows:
            rank = next((i + 1 for i, (page, _) in enumerate(ranked[:10]) if page in question["pages"]), None)
            ranks.append(rank)
            phrase += any(squash(question["answer"]) in squash(text) for _, text in ranked[:5])
        n = len(rows)
        if not n:
            continue
        table[split] = {
            "hit@1": sum(r is not None and r <= 1 for r in ranks) / n,
            "hit@3": sum(r is not None and r <= 3 for r in ranks) / n,
            "hit@5": sum(r is not None and r <= 5 for r in ranks) / n,
            "MRR@10": sum(1 / r for r in ranks if r) / n,
            "phrase@5": phrase / n,
        }
    return table


def print_table(rows: list[tuple[str, dict]], splits=SPLITS) -> None:
    metrics = ["hit@1", "hit@3", "hit@5", "MRR@10", "phrase@5"]
    for split in splits:
        count = sum(q["split"] == split for q in QUESTION_LIST)
        print(f"\n{split} ({count} questions)")
        print(f"| {'system':<52} | " + " | ".join(f"{m:>8}" for m in metrics) + " |")
        print(f"|{'-' * 54}|" + "|".join("-" * 10 for _ in metrics) + "|")
        for name, table in rows:
            print(f"| {name:<52} | " + " | ".join(f"{table[split][m]:>8.2f}" for m in metrics) + " |")


QUESTION_LIST: list[dict] = []


# --- The app ----------------------------------------------------------------------------------------------------


def ingest(pages: dict[str, bytes]):
    from django.db import connection, transaction

    from accounts.models import User
    from documents.models import Chunk, Document
    from documents.services import document_ingest, document_upload

    user = User.objects.filter(email=OWNER_EMAIL).first()
    if user is not None and Document.objects.filter(owner=user).exists():
        print(f"reusing {Document.objects.filter(owner=user).count()} ingested pages")
        return user
    user = User.objects.create(email=OWNER_EMAIL)
    with transaction.atomic():
        ids = [document_upload(owner=user, filename=name, data=data).document.id for name, data in pages.items()]
        connection.run_on_commit = []  # no Celery task: the task's function runs right here instead
    started = time.perf_counter()
    for number, document_id in enumerate(ids, 1):
        document = document_ingest(document_id=document_id)
        if document.status != "ready":
            print(f"  {document.original_name}: {document.status} ({document.error})")
        if number % 40 == 0:
            print(f"  ingested {number}/{len(ids)} pages in {time.perf_counter() - started:.0f} s", flush=True)
    chunks = Chunk.objects.filter(owner=user).count()
    print(f"ingested {len(ids)} pages into {chunks} chunks in {time.perf_counter() - started:.0f} s")
    return user


def app_results(user, questions, pages_by_document, *, search=None, tuning=None, vectors=None, **options):
    """Each question's ranked (page, text) from the app's retrieval (or a variant of its search)."""
    from documents.retrieval import RetrievalOptions, retrieve

    results = []
    for index, question in enumerate(questions):
        opts = RetrievalOptions(**options)
        if search is None:
            found = retrieve(user=user, query=question["question"], options=opts)
        else:
            extra = {"tuning": tuning} if tuning is not None else {}
            found = search(user=user, query=question["question"], vector=vectors[index], options=opts, **extra)
        results.append([(pages_by_document[s.document_id], s.text) for s in found])
    return results


def with_mrr_from(top5: dict, top10: dict) -> dict:
    """hit@k and phrase@5 from the default (top 5) call; MRR@10 from the max_results=10 one."""
    return {split: {**top5[split], "MRR@10": top10[split]["MRR@10"]} for split in top5}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", default="", help="a database kept by --keep: skip ingestion")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (for --reuse)")
    parser.add_argument("--levers", action="store_true", help="also measure retrieval variants on the tune half")
    parser.add_argument("--levers-only", action="store_true", help="only the variants (tuning the app)")
    parser.add_argument("--grid", action="store_true", help="with --levers-only: vector_weight x same_document")
    parser.add_argument("--tune-only", action="store_true", help="only the app's default, on the tune half")
    parser.add_argument("--only", default="", help="with --levers-only: the levers whose names hold one of these")
    parser.add_argument("--embedding-cache", action="store_true", help="the app's passages embedded through a cache")
    parser.add_argument("--chunking", default="", help='chunk_document options, e.g. "size=800,min_size=0"')
    parser.add_argument("--no-heading-embedding", action="store_true", help="embed the passage without its heading")
    parser.add_argument("--no-furniture-drop", action="store_true", help="keep HTML footers and tables of contents")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="git", help="git (the default), pam, flask, pdf")
    args = parser.parse_args()

    from chatbot.embedded import var_dir

    global CORPUS
    CORPUS = CORPORA[args.corpus]
    corpus = var_dir() / "bench" / CORPUS.package
    if not (corpus / CORPUS.doc_root).exists():
        fetch_corpus(corpus)
    pages = load_pages(corpus)
    questions = load_questions(pages)
    QUESTION_LIST.extend(questions)
    version = (corpus / "VERSION").read_text().strip() if (corpus / "VERSION").exists() else "?"
    print(f"{len(pages)} pages of {version}; {len(questions)} questions")

    with scratch_database("bench_rag", reuse=args.reuse, keep=args.keep):
        import retrieval_before
        from django.db.models import Avg, Count, Q
        from django.db.models.functions import Length

        from documents import retrieval
        from documents.embedding import embed_texts
        from documents.models import Chunk, Document

        if args.embedding_cache:
            cache_app_embeddings(var_dir() / "bench" / "app-embeddings.npz")
        apply_variant(
            args.chunking, heading_embedding=not args.no_heading_embedding, furniture=not args.no_furniture_drop
        )
        user = ingest(pages)
        for save in CACHE_SAVERS:
            save()
        retrieval._count_cache.clear()
        pages_by_document = dict(Document.objects.filter(owner=user).values_list("id", "original_name"))
        stats = (
            Chunk.objects.filter(owner=user)
            .annotate(size=Length("text"))
            .aggregate(n=Count("id"), short=Count("id", filter=Q(size__lt=100)), average=Avg("size"))
        )
        print(f"app chunks: {stats['n']}, {stats['short']} under 100 characters, {stats['average']:.0f} on average")

        if args.levers_only or args.tune_only:
            vectors = embed_texts([q["question"] for q in questions])
            measure_levers(
                user,
                questions,
                pages_by_document,
                vectors,
                grid=args.grid,
                only_default=args.tune_only,
                only=[name for name in args.only.split(",") if name],
            )
            return

        names = list(pages)
        chunks, owners = [], []
        for name in names:
            for piece in recursive_split(page_text(pages[name])):
                chunks.append(piece)
                owners.append(name)
        average = sum(map(len, chunks)) / len(chunks)
        short = sum(len(c) < 100 for c in chunks)
        print(f"baseline chunks: {len(chunks)}, {short} under 100 characters, {average:.0f} on average")
        started = time.perf_counter()
        chunk_vectors = embed_cached(chunks, var_dir() / "bench")
        print(f"baseline chunks embedded (or read from the cache) in {time.perf_counter() - started:.0f} s")
        query_vectors = np.array(embed_texts([q["question"] for q in questions]), dtype=np.float32)
        vector_results = [
            [(owners[i], chunks[i]) for i in np.argsort(-(chunk_vectors @ v), kind="stable")[:10]]
            for v in query_vectors
        ]
        bm25 = BM25(chunks)
        bm25_results = [[(owners[i], chunks[i]) for i in bm25.top(q["question"], 10)] for q in questions]

        started = time.perf_counter()
        app5 = score(app_results(user, questions, pages_by_document), questions)
        seconds = time.perf_counter() - started
        app10 = score(app_results(user, questions, pages_by_document, max_results=10), questions)
        vectors = [list(map(float, v)) for v in query_vectors]
        before5 = score(
            app_results(user, questions, pages_by_document, search=retrieval_before.search, vectors=vectors), questions
        )
        before10 = score(
            app_results(
                user, questions, pages_by_document, search=retrieval_before.search, vectors=vectors, max_results=10
            ),
            questions,
        )
        print(f"\napp retrieval: {1000 * seconds / len(questions):.0f} ms a question on average (with embedding)")
        print_table(
            [
                ("this app (hybrid, top 5, threshold 0.25)", with_mrr_from(app5, app10)),
                ("this app before issue 13", with_mrr_from(before5, before10)),
                ("vector only, 1000/100 recursive split, cosine", score(vector_results, questions)),
                ("BM25 alone over those chunks", score(bm25_results, questions)),
            ]
        )
        if args.levers:
            measure_levers(user, questions, pages_by_document, vectors)


def measure_levers(
    user, questions, pages_by_document, vectors, grid: bool = False, only_default: bool = False, only=()
) -> None:
    """The tune half under variations of the app's retrieval: one lever at a time from the default."""
    from functools import partial

    import retrieval_before

    from documents.retrieval import TUNING

    tune = [i for i, q in enumerate(questions) if q["split"] == "tune"]
    subset = [questions[i] for i in tune]
    subset_vectors = [vectors[i] for i in tune]

    def run(search=None, tuning=TUNING, **options):
        from documents.retrieval import search as current

        top5 = score(
            app_results(
                user,
                subset,
                pages_by_document,
                search=search or current,
                tuning=tuning,
                vectors=subset_vectors,
                **options,
            ),
            subset,
        )
        top10 = score(
            app_results(
                user,
                subset,
                pages_by_document,
                search=search or current,
                tuning=tuning,
                vectors=subset_vectors,
                max_results=10,
                **options,
            ),
            subset,
        )
        return with_mrr_from(top5, top10)  # fmt: skip

    def before(**options):
        top5 = score(
            app_results(
                user, subset, pages_by_document, search=retrieval_before.search, vectors=subset_vectors, **options
            ),
            subset,
        )
        top10 = score(
            app_results(
                user,
                subset,
                pages_by_document,
                search=retrieval_before.search,
                vectors=subset_vectors,
                max_results=10,
                **options,
            ),
            subset,
        )
        return with_mrr_from(top5, top10)  # fmt: skip

    if grid:
        rows = [
            (
                f"document_weight {g}, vector_weight {w}, same_document {d}",
                run(tuning=replace(TUNING, document_weight=g, vector_weight=w, same_document=d)),
            )
            for g in (0.7, 1.0)
            for w in (0.7, 0.8)
            for d in (0.8, 0.9, 1.0)
        ]
        print(f"\ngrid, tune half only, from {TUNING}")
        print_table(rows, splits=("tune",))
        return
    if only_default:
        print_table([("the default Tuning", run())], splits=("tune",))
        return
    levers = [
        ("before: hybrid, RRF, pooled keyword leg", lambda: before()),
        ("before: keyword leg alone", lambda: before(legs=frozenset({"text"}))),
        ("before: vector leg alone", lambda: before(legs=frozenset({"vector"}))),
        ("now: the default Tuning (below)", lambda: run()),
        ("now: keyword leg alone (BM25)", lambda: run(legs=frozenset({"text"}))),
        ("now: vector leg alone", lambda: run(legs=frozenset({"vector"}))),
        ("fusion rrf", lambda: run(tuning=replace(TUNING, fusion="rrf"))),
        ("fusion rrf, several passages a page", lambda: run(tuning=replace(TUNING, fusion="rrf", same_document=1.0))),
    ]
    levers += [(f"vector_weight {w}", partial(run, tuning=replace(TUNING, vector_weight=w))) for w in (0.6, 0.8, 0.9)]
    levers += [(f"same_document {d}", partial(run, tuning=replace(TUNING, same_document=d))) for d in (0.0, 0.8, 1.0)]
    levers += [
        (f"keyword_budget {n}", partial(run, tuning=replace(TUNING, keyword_budget=n)))
        for n in (500, 1000, 4000, 10**9)
    ]
    levers += [(f"overfetch {n}", partial(run, tuning=replace(TUNING, overfetch=n))) for n in (2, 8)]
    levers += [("keyword_bypass off", partial(run, tuning=replace(TUNING, keyword_bypass=False)))]
    levers += [
        (f"document_weight {w}", partial(run, tuning=replace(TUNING, document_weight=w))) for w in (0.0, 0.3, 1.0)
    ]
    levers += [(f"passage_chunks {n}", partial(run, tuning=replace(TUNING, passage_chunks=n))) for n in (1, 2, 5)]
    levers += [(f"lead_weight {w}", partial(run, tuning=replace(TUNING, lead_weight=w))) for w in (0.0, 0.2, 0.7)]
    levers += [(f"threshold {t}", partial(run, similarity_threshold=t)) for t in (0.0, 0.35)]
    levers += [("headings out of the keyword index", lambda: without_headings_in_the_index(user, run))]
    rows = [(name, measure()) for name, measure in levers if not only or any(part in name for part in only)]
    print(f"\nlevers, tune half only, each changed alone from {TUNING}")
    print_table(rows, splits=("tune",))


def without_headings_in_the_index(user, run) -> dict:
    """The tune half with Chunk.heading emptied (the search_vector and term statistics follow), then put back."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE saved_headings AS SELECT id, heading FROM chunks WHERE owner_id = %s", [user.id]
        )
        cursor.execute("UPDATE chunks SET heading = '' WHERE owner_id = %s", [user.id])
    try:
        return run()
    finally:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE chunks c SET heading = s.heading FROM saved_headings s WHERE s.id = c.id")
            cursor.execute("DROP TABLE saved_headings")


if __name__ == "__main__":
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its font warnings, hundreds for a TeX manual
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
