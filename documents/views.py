from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from accounts.decorators import registered_required
from chatbot import downloads
from chatbot.redirects import next_url
from chatbot.text import clean_text, title_too_long
from documents import selectors, services
from documents.models import Chunk, Document, DocumentVersion, Suggestion
from documents.parsing import upload_accept
from documents.retrieval import TUNING
from documents.suggestions import SuggestionsUnavailable, suggest_improvements

MAX_FILES_PER_UPLOAD = 20
DOCUMENTS_PER_PAGE = 50
TITLE_MAX_LENGTH = Document._meta.get_field("title").max_length


def _search_query(value: str) -> str:
    """The list's search as typed, composed, its whitespace runs made one space; the list and its bulk delete read it
    alike."""
    return " ".join(unicodedata.normalize("NFC", clean_text(value)).split())[:200]  # as names are stored


@registered_required
@require_GET
def document_list(request: HttpRequest) -> HttpResponse:
    # A documentation folder is hundreds of documents: all on one page was 17,000 pixels and 230 KB of rows, with
    # no way to find one but scrolling. Pages of DOCUMENTS_PER_PAGE, and a search of titles and file names.
    query = _search_query(request.GET.get("q", ""))
    counts = selectors.indexing_counts(user=request.user)
    page = Paginator(selectors.document_list(user=request.user, query=query), DOCUMENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "documents": page.object_list,
        "page": page,
        "query": query,
        "total": counts["total"],  # every status counted: all the documents the list can show
        # Where a row's Delete comes back to: this page of this search, built from what the list read (a 100,000
        # character q, cut to 200 for the search, was copied whole into every row's form: 5 MB a page).
        "back": _list_path(request, query=query, page=page.number),
        "listed_at": timezone.now().isoformat(),  # the bulk delete takes no document added after this
        "deletable": page.paginator.object_list.filter(owner=request.user).count(),
        "max_size": services.upload_limit_display(),
        "max_characters": services.text_limit_display(),
        "max_files": MAX_FILES_PER_UPLOAD,
        "accept": upload_accept(),
        "waiting_poll": selectors.poll_seconds(waiting=counts["waiting"]),
        "counts": counts,
    }
    return render(request, "documents/list.html", context)


def _list_path(request: HttpRequest, *, query: str, page: int) -> str:
    """The list's path with the search and page it shows (the page only when one was asked for)."""
    params = {**({"q": query} if query else {}), **({"page": page} if "page" in request.GET else {})}
    return request.path + (f"?{urlencode(params)}" if params else "")


@registered_required
@require_GET
def document_progress(request: HttpRequest) -> HttpResponse:
    """The list's line of how far indexing has come, over every page of it: the rows of a page poll slowly when
    many wait, and the newest (page 1) are indexed last, so they said "Waiting" for minutes without a sign."""
    context = {"counts": selectors.indexing_counts(user=request.user), "polled": True}
    return render(request, "documents/partials/indexing.html", context)


@registered_required
@require_POST
def document_upload(request: HttpRequest) -> HttpResponse:
    files = request.FILES.getlist("files")
    shared = request.POST.get("shared") == "on" and request.user.is_staff
    if not files:
        messages.error(request, "Choose at least one file to upload.")
    uploaded, duplicates, refused = [], [], []
    for upload in files[:MAX_FILES_PER_UPLOAD]:
        try:
            result = services.document_upload(
                owner=None if shared else request.user, filename=upload.name, data=upload.read()
            )
        except services.UploadRejected as exc:
            refused.append(exc.user_message)
            continue
        if result.duplicate:
            duplicates.append((upload.name, result.document.title))
        else:
            uploaded.append(upload.name)
    where = "the shared library" if shared else "your documents"
    _say_uploaded(request, uploaded, duplicates, refused, where=where)
    if len(files) > MAX_FILES_PER_UPLOAD:
        messages.error(request, f"Only the first {MAX_FILES_PER_UPLOAD} files were taken; upload the rest separately.")
    return redirect("documents:list")


DUPLICATES_NAMED = 3  # more files already there than this are said in one line
# An extension, or "_sources": a Sphinx build's copies of its pages' sources (the pages themselves are read).
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}|_sources")


def _say_left_out(request: HttpRequest) -> None:
    """What the page's script left out of a folder (images, stylesheets, archives): counted, with a few of their
    extensions, so that a folder of 980 files that became 766 documents says where the rest went."""
    try:
        count = min(max(int(request.POST.get("left_out", "0")), 0), 1_000_000)
    except ValueError:
        return
    if not count:
        return
    kinds = _EXTENSION.findall(request.POST.get("left_out_kinds", "")[:200].lower())[:8]
    kinds = ["Sphinx's _sources copies" if kind == "_sources" else kind for kind in kinds]
    files = "file that is not a document" if count == 1 else "files that are not documents"
    messages.info(request, f"Left out {count} {files}{' (' + ', '.join(kinds) + ')' if kinds else ''}.")


def _say_uploaded(
    request: HttpRequest, names: list[str], duplicates: list[tuple[str, str]], refused: list[str], *, where: str
) -> None:
    """One line for the files taken, not one each: a folder of 200 pages pushed the list off the screen. Files
    already there are named, each with its document's title, when they are few, and counted when many (the same
    folder chosen again said so 211 times); so are files refused (empty, unreadable), each with why.

    The page sends a large selection in parts of MAX_FILES_PER_UPLOAD (each part names its `series` and says which
    is `last`); the parts' counts add up in the session and the last part says the totals once.
    """
    series = request.POST.get("series", "")[:64]
    count, duplicate_count, refused_count = len(names), len(duplicates), len(refused)
    if series:
        tally = request.session.get("upload_series") or {}
        if tally.get("id") == series:
            count += tally["count"]
            duplicate_count += tally["duplicate_count"]
            duplicates = [tuple(each) for each in tally["duplicates"]] + duplicates
            refused_count += tally.get("refused_count", 0)
            refused = tally.get("refused", []) + refused
        duplicates, refused = duplicates[: DUPLICATES_NAMED + 1], refused[:DUPLICATES_NAMED]
        if request.POST.get("last") != "1":
            request.session["upload_series"] = {
                "id": series, "count": count, "duplicate_count": duplicate_count, "duplicates": duplicates,
                "refused_count": refused_count, "refused": refused,
            }  # fmt: skip
            return
        request.session.pop("upload_series", None)
        _say_left_out(request)
    for reason in refused[:DUPLICATES_NAMED]:
        messages.error(request, reason)
    if refused_count > DUPLICATES_NAMED:
        more = refused_count - DUPLICATES_NAMED
        messages.error(request, f"{more} more file{'s' if more != 1 else ''} could not be added, for the same reasons.")
    if duplicate_count > DUPLICATES_NAMED:
        messages.info(
            request, f"{duplicate_count} files were already in {where}, with the same content: not added again."
        )
    else:
        for name, title in duplicates:
            messages.info(request, f"{name} is already in {where} as “{title}”.")
    # What happened, not what is under way: the list's live status says how far indexing has come. "…; it is being
    # processed" stayed on the page beside that status's "All 1 document indexed" once the worker was done.
    if count == 1:
        messages.success(request, f"{names[0] if names else '1 file'} uploaded.")
    elif count:
        messages.success(request, f"{count} files uploaded.")


@registered_required
@require_POST
def document_bulk_delete(request: HttpRequest) -> HttpResponse:
    """Delete every one of the user's documents the list's search finds (all of them without a search): a folder
    uploaded by mistake was hundreds of Delete buttons, each confirmed."""
    query = _search_query(request.POST.get("q", ""))
    matching = selectors.document_list(user=request.user, query=query)
    # Only what the confirmation counted: a document added after the list was shown (the next part of a folder
    # still uploading, one written in another tab) is kept.
    listed_at = _listed_at(request.POST.get("listed_at", ""))
    count = services.documents_delete(owner=request.user, documents=matching.filter(created_at__lte=listed_at))
    plural = "s" if count != 1 else ""
    said = f"Deleted {count} document{plural}" + (f" that matched “{query}”." if query else ".")
    kept = matching.filter(owner=request.user, created_at__gt=listed_at).count()
    if kept:
        said += f" {kept} added since the list was shown {'were' if kept != 1 else 'was'} kept."
    messages.success(request, said)
    return redirect("documents:list")


def _listed_at(value: str) -> dt.datetime:
    """When the list the bulk delete was confirmed on was shown (its form says); now, if it says nothing valid."""
    try:
        listed_at = parse_datetime(value[:64])
    except ValueError:
        listed_at = None
    if listed_at is None or timezone.is_naive(listed_at):
        return timezone.now()
    return listed_at


@registered_required
@require_GET
def document_status(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    try:
        document = selectors.document_get(user=request.user, document_id=document_id)
    except Http404:
        if not request.htmx:
            raise
        # A polling row whose document was deleted meanwhile (another tab): the row goes, and its polling stops
        # (286). Another user's document gets the same answer, as it gets the same 404.
        return HttpResponse(status=286)
    context = {"document": document, "waiting_poll": selectors.waiting_poll_seconds(user=request.user)}
    return render(request, "documents/partials/document_row.html", context)


@registered_required
@require_POST
def document_retry(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id, editable=True)
    services.document_retry(document=document)
    if request.htmx:
        context = {"document": document, "waiting_poll": selectors.waiting_poll_seconds(user=request.user)}
        return render(request, "documents/partials/document_row.html", context)
    return redirect("documents:list")


@registered_required
@require_POST
def document_delete(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id, editable=True)
    title = document.title
    document.delete()
    messages.success(request, f"“{title}” deleted.")
    # Back to the page and search of the list it was deleted from (a path on this site only).
    return redirect(next_url(request, reverse("documents:list")))


@registered_required
def document_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        title = clean_text(request.POST.get("title", "")).strip()
        content = clean_text(request.POST.get("content", ""))
        if not title or not content.strip():
            messages.error(request, "A document needs a title and some text.")
            context = {"title": title, "content": content, "title_max_length": TITLE_MAX_LENGTH}
            return render(request, "documents/new.html", context, status=400)
        problem = title_too_long(title, limit=TITLE_MAX_LENGTH)  # the writer sees their whole title again
        if not problem and len(content) > services.MAX_DOCUMENT_CHARACTERS:
            problem = "The document is too long to save (2 million characters at most)."
        if problem:
            messages.error(request, problem)
            context = {"title": title, "content": content, "title_max_length": TITLE_MAX_LENGTH}
            return render(request, "documents/new.html", context, status=400)
        document = services.document_create(owner=request.user, title=title, content=content)
        return redirect("documents:detail", document.id)
    return render(request, "documents/new.html", {"title_max_length": TITLE_MAX_LENGTH})


def _detail_context(request: HttpRequest, document: Document) -> dict:
    versions = list(document.versions.order_by("-number"))
    latest = versions[0] if versions else None
    return {
        "document": document,
        "versions": versions,
        "latest": latest,
        "content": latest.content if latest else services.document_extracted_text(document),
        "editable": document.owner_id == request.user.id,
        "suggestions": (
            list(Suggestion.objects.filter(version__document=document, is_resolved=False).order_by("created_at"))
            if document.owner_id == request.user.id
            else []
        ),
        "title_max_length": Document._meta.get_field("title").max_length,
    }


@registered_required
@require_GET
def document_detail(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id)
    return render(request, "documents/detail.html", _detail_context(request, document))


@registered_required
@require_GET
def document_original(request: HttpRequest, document_id: uuid.UUID) -> HttpResponseBase:
    """The uploaded file as it was sent; a document written here has none, so its latest text as Markdown."""
    document = selectors.document_get(user=request.user, document_id=document_id)
    if document.file:
        name = document.original_name or document.file.name.rsplit("/", 1)[-1]
        return downloads.stored_file_response(
            request=request, file=document.file, filename=name, mime_type=document.mime_type
        )
    latest = document.versions.order_by("-number").first()
    if latest is None:
        raise Http404("This document has neither a file nor any text.")
    response = HttpResponse(latest.content.encode(), content_type="text/markdown; charset=utf-8")
    # A title is not a path: its slashes stay part of the name.
    name = document.title.replace("/", "_").replace("\\", "_") + ".md"
    response["Content-Disposition"] = downloads.content_disposition("attachment", name)
    return downloads.protect(response)


@registered_required
@require_POST
def document_rename(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    """Rename from the detail page: htmx swaps the heading in place; without JavaScript, back to the page."""
    document = selectors.document_get(user=request.user, document_id=document_id, editable=True)
    submitted = request.POST.get("title", "")
    try:
        services.document_rename(document=document, title=submitted)
    except services.RenameRejected as exc:
        context = {
            **_detail_context(request, document),
            "rename_error": exc.user_message,
            "title_value": clean_text(submitted),
        }
        if request.htmx:
            response = render(request, "documents/partials/document_heading.html", context, status=400)
            return reswap(retarget(response, "#document-heading"), "outerHTML")
        return render(request, "documents/detail.html", context, status=400)
    if request.htmx:
        context = {
            "document": document,
            "editable": True,
            "renamed": True,
            "title_max_length": Document._meta.get_field("title").max_length,
        }
        return render(request, "documents/partials/document_heading.html", context)
    messages.success(request, f"Renamed to “{document.title}”.")
    return redirect("documents:detail", document.id)


@registered_required
@require_POST
def document_save(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id, editable=True)
    content = clean_text(request.POST.get("content", ""))
    if not content.strip():
        messages.error(request, "The document cannot be empty. Delete it instead.")
        return redirect("documents:detail", document.id)
    if len(content) > services.MAX_DOCUMENT_CHARACTERS:
        messages.error(request, "The document is too long to save (2 million characters at most).")
        return redirect("documents:detail", document.id)
    version = services.document_save_version(document=document, content=content, author=request.user)
    messages.success(request, f"Saved as version {version.number}; it is being re-indexed.")
    return redirect("documents:detail", document.id)


def _own_version(request: HttpRequest, version_id: uuid.UUID) -> DocumentVersion:
    return get_object_or_404(
        DocumentVersion.objects.select_related("document"), id=version_id, document__owner=request.user
    )


def _diff_rows(before: str, after: str) -> list[tuple[str, str]]:
    """(kind, line) for a unified diff: "added", "removed", "hunk" or "context".

    The "--- a" / "+++ b" file header is left out: marked up by its first character it read as a removed and an
    added line of the document.
    """
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm=""))[2:]
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [(kinds.get(line[:1], "context"), line) for line in lines]


@registered_required
@require_GET
def version_diff(request: HttpRequest, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(request, version_id)
    previous = version.document.versions.filter(number__lt=version.number).order_by("-number").first()
    before = previous.content if previous else ""
    diff = _diff_rows(before, version.content)
    return render(request, "documents/diff.html", {"version": version, "previous": previous, "diff": diff})


@registered_required
@require_POST
def version_restore(request: HttpRequest, version_id: uuid.UUID) -> HttpResponse:
    version = _own_version(request, version_id)
    restored = services.document_restore_version(version=version, author=request.user)
    messages.success(request, f"Version {version.number} restored as version {restored.number}.")
    return redirect("documents:detail", version.document_id)


@registered_required
@require_POST
def document_suggest(request: HttpRequest, document_id: uuid.UUID) -> HttpResponse:
    document = selectors.document_get(user=request.user, document_id=document_id, editable=True)
    try:
        count = suggest_improvements(document=document, user=request.user)
    except SuggestionsUnavailable as exc:
        messages.info(request, str(exc))
    else:
        messages.success(request, f"{count} suggestion{'s' if count != 1 else ''} to review below.")
    return redirect("documents:detail", document.id)


@registered_required
@require_POST
def suggestion_resolve(request: HttpRequest, suggestion_id: uuid.UUID, action: str) -> HttpResponse:
    suggestion = get_object_or_404(
        Suggestion.objects.select_related("version__document"),
        id=suggestion_id,
        version__document__owner=request.user,
    )
    if action not in {"accept", "reject"}:
        return HttpResponse("Unknown action.", status=400)
    try:
        version = services.suggestion_resolve(suggestion=suggestion, accept=action == "accept", user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        if version is not None:
            messages.success(request, f"Suggestion applied as version {version.number}.")
        else:
            messages.info(request, "Suggestion dismissed.")
    return redirect("documents:detail", suggestion.version.document_id)


@registered_required
@require_GET
def chunk_detail(request: HttpRequest, chunk_id: uuid.UUID) -> HttpResponse:
    """A cited passage in its document: only a chunk the user may read (their own or the shared base)."""
    readable = selectors.readable_documents(user=request.user)
    chunk = Chunk.objects.select_related("document").filter(id=chunk_id, document__in=readable).first()
    if chunk is None:
        # Re-indexing (a new version, a re-ingest) replaces a document's passages, and an older answer's citation
        # then names a passage that no longer exists: open its document instead, saying why.
        document = selectors.cited_document(user=request.user, chunk_id=chunk_id)
        if document is None:
            raise Http404("No such passage.")
        messages.info(request, "That passage has changed since the answer cited it: here is its document now.")
        return redirect("documents:detail", document.id)
    # A cited passage may run over a few consecutive chunks (retrieval joins neighbours): all are marked.
    try:
        span = max(1, min(int(request.GET.get("chunks", 1)), TUNING.passage_chunks))
    except ValueError:
        span = 1
    pieces = selectors.passage_in_context(chunk=chunk, span=span)
    return render(request, "documents/chunk.html", {"chunk": chunk, "pieces": pieces})
