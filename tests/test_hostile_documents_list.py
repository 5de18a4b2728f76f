"""Hostile input to the documents list, its search and bulk delete, the indexing line, uploads and the HTML parser.

Each test asserts the good behaviour: a correct page or a 4xx (or a message) a person can read, never a 500, and
another user's documents never touched. Uploads capture their on-commit ingestion without running it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import time
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from documents.models import Document
from documents.parsing import ParseError, parse_document
from tests.factories import DocumentFactory, UserFactory

LIST = "/documents/"


def page_of(response) -> str:
    return response.content.decode()


def flashes(response) -> list[tuple[str, str]]:
    found = re.findall(r'<li class="flash-([a-z]+)">(.*?)</li>', page_of(response), re.S)
    return [(level, html.unescape(text)) for level, text in found]


def row_ids(page: str) -> list[str]:
    return re.findall(r'<li class="document-row" id="document-([0-9a-f-]+)"', page)


def upload(name: str, data: bytes, content_type: str = "text/plain") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture
def other(db):
    return UserFactory()


@pytest.fixture
def quiet(user_client, settings):
    """A client that answers a view's exception with the 500 page instead of raising it (as production does)."""
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False
    user_client.raise_request_exception = False
    return user_client


def pages_of_documents(owner, count: int, title: str = "Page") -> list[Document]:
    start = timezone.now()
    return [
        DocumentFactory(owner=owner, title=f"{title} {i:03}", created_at=start - dt.timedelta(minutes=i))
        for i in range(count)
    ]


# --- The list: ?page= -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected_page"),
    [
        ("-1", 3),  # below 1: the last page, as Paginator.get_page does
        ("0", 3),
        ("abc", 1),
        ("1.5", 1),
        ("1e3", 1),
        ("99999999999999999999", 3),
        ("%00", 1),
        ("2%00", 1),
        ("%ED%A0%80", 1),
        ("x" * 100_000, 1),
        ("\u0662", 2),  # an Arabic-Indic digit two: int() reads it
    ],
    ids=["minus-one", "zero", "abc", "float", "exponent", "huge", "nul", "two-nul", "surrogate", "100k", "arabic-2"],
)
def test_any_page_value_gives_a_page_of_the_list(quiet, user, value, expected_page):
    made = pages_of_documents(user, 120)
    response = quiet.get(f"{LIST}?page={value if '%' in value else quote(value)}")
    assert response.status_code == 200
    page = page_of(response)
    assert f"Page {expected_page} of 3" in page
    start = (expected_page - 1) * 50
    assert row_ids(page) == [str(document.id) for document in made[start : start + 50]]


def test_repeated_page_and_q_parameters_take_the_last_and_keep_it_in_the_links(quiet, user):
    pages_of_documents(user, 60, title="Pragma")
    response = quiet.get(f"{LIST}?page=1&page=2&q=zzz&q=pragma")
    assert response.status_code == 200
    page = page_of(response)
    assert "Page 2 of 2" in page and 'href="?q=pragma&amp;page=1" rel="prev"' in page


# --- The list: ?q= --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ("%", {"100% cotton"}),
        ("_", {"snake_case notes"}),
        ("\\", {"C:\\temp notes"}),
        ("%_%", set()),
        ("' OR 1=1 --", set()),
        ("'; DROP TABLE documents; --", set()),
    ],
    ids=["percent", "underscore", "backslash", "like-pattern", "sql-or", "sql-drop"],
)
def test_like_and_sql_metacharacters_are_searched_for_literally(quiet, user, other, query, matches):
    for title in ("100% cotton", "snake_case notes", "C:\\temp notes", "Plain title"):
        DocumentFactory(owner=user, title=title, original_name="file.txt")
    DocumentFactory(owner=other, title="Their 100% snake_case C:\\ notes", original_name="x.txt")
    response = quiet.get(LIST, {"q": query})
    assert response.status_code == 200
    titles = set(Document.objects.filter(id__in=row_ids(page_of(response))).values_list("title", flat=True))
    assert titles == matches
    assert Document.objects.count() == 5


@pytest.mark.parametrize(
    "raw",
    [
        "%00",
        "a%00b",
        "line%0Dbreak%0Devent:%20done%0D",
        "%ED%A0%80%FF",
        "%E2%80%AEtxt.exe",  # RTL override
        "e%CC%81%CC%81%CC%81%CC%81" * 50,  # a letter under a pile of combining accents
        "x" * 100_000,
        "%20%20%20",
        "%5C%5C%25%25__",
    ],
    ids=["nul", "inner-nul", "lone-cr", "surrogate", "rtl-override", "combining", "100k", "spaces", "escapes"],
)
def test_any_search_gives_a_page(quiet, user, raw):
    DocumentFactory(owner=user, title="Write-Ahead Logging")
    response = quiet.get(f"{LIST}?q={raw}")
    assert response.status_code == 200
    page = page_of(response)
    assert "\x00" not in page and "\u202e" not in page


def test_a_100k_search_does_not_make_a_page_of_megabytes(quiet, user):
    """Every row's delete form carries the list's full path back (`back`): a 100,000-character q was copied into
    all 50 rows although the search itself is cut to 200 characters."""
    pages_of_documents(user, 50, title="x" * 250)
    response = quiet.get(LIST, {"q": "x" * 100_000})
    assert response.status_code == 200
    assert len(row_ids(page_of(response))) == 50  # the search, cut to 200 x's, finds them all
    assert len(response.content) < 400_000, f"{len(response.content):,} bytes for one page of the list"


def test_a_search_for_an_accented_name_finds_it_whatever_its_unicode_form(
    quiet, user, django_capture_on_commit_callbacks
):
    """A macOS file name arrives decomposed (e + combining acute); a person types the composed é."""
    with django_capture_on_commit_callbacks(execute=False):
        quiet.post(reverse("documents:upload"), {"files": [upload("re\u0301sume\u0301.txt", b"My CV.\n")]})
    document = Document.objects.get(owner=user)
    response = quiet.get(LIST, {"q": "r\u00e9sum\u00e9"})
    assert row_ids(page_of(response)) == [str(document.id)]
    response = quiet.get(LIST, {"q": "re\u0301sume\u0301"})  # and typed decomposed, it finds it too
    assert row_ids(page_of(response)) == [str(document.id)]


# --- Bulk delete ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "deleted"),
    [("%", {"100% cotton"}), ("_", {"snake_case notes"}), ("\\", {"C:\\temp notes"}), ("%%", set())],
    ids=["percent", "underscore", "backslash", "double-percent"],
)
def test_bulk_delete_with_like_metacharacters_deletes_only_literal_matches(
    quiet, user, other, query, deleted, django_capture_on_commit_callbacks
):
    titles = ("100% cotton", "snake_case notes", "C:\\temp notes", "Plain title")
    for title in titles:
        DocumentFactory(owner=user, title=title, original_name="file.txt")
    theirs = DocumentFactory(owner=other, title="100% snake_case C:\\ notes")
    shared = DocumentFactory(owner=None, title="100% snake_case C:\\ shared")
    with django_capture_on_commit_callbacks(execute=True):
        response = quiet.post(reverse("documents:bulk_delete"), {"q": query})
    assert response.status_code == 302
    left = set(Document.objects.filter(owner=user).values_list("title", flat=True))
    assert left == set(titles) - deleted
    assert Document.objects.filter(id__in=[theirs.id, shared.id]).count() == 2


@pytest.mark.parametrize(
    "raw",
    ["%00", "a%00b", "%0Dx", "%ED%A0%80", "x" * 100_000, "%E2%80%AE", "' OR 1=1 --"],
    ids=["nul", "inner-nul", "lone-cr", "surrogate", "100k", "rtl", "sql"],
)
def test_bulk_delete_never_touches_another_users_or_the_shared_documents(
    quiet, user, other, raw, django_capture_on_commit_callbacks
):
    theirs = [DocumentFactory(owner=other, title=f"Their {i}") for i in range(3)]
    shared = DocumentFactory(owner=None, title="Handbook")
    with django_capture_on_commit_callbacks(execute=True):
        response = quiet.generic(
            "POST", reverse("documents:bulk_delete"), f"q={raw}", "application/x-www-form-urlencoded"
        )
    assert response.status_code == 302
    assert Document.objects.filter(id__in=[d.id for d in theirs] + [shared.id]).count() == 4


def test_bulk_delete_without_the_csrf_token_is_refused_and_deletes_nothing(user, db):
    DocumentFactory(owner=user, title="Keep me")
    DocumentFactory(owner=user, title="Keep me too")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("documents:bulk_delete"), {"q": ""})
    assert response.status_code == 403
    assert Document.objects.filter(owner=user).count() == 2


def test_bulk_delete_is_post_only(user_client, user):
    DocumentFactory(owner=user)
    assert user_client.get(reverse("documents:bulk_delete")).status_code == 405
    assert Document.objects.filter(owner=user).count() == 1


def test_bulk_delete_by_an_anonymous_visitor_or_a_guest_deletes_nothing(client, user):
    DocumentFactory(owner=user)
    response = client.post(reverse("documents:bulk_delete"))
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    from tests.factories import GuestFactory

    guest = GuestFactory()
    DocumentFactory(owner=guest)
    client.force_login(guest)
    client.post(reverse("documents:bulk_delete"))
    assert Document.objects.count() == 2


def test_bulk_delete_deletes_no_more_than_the_confirmation_said(user_client, user, django_capture_on_commit_callbacks):
    """The button says "Delete all 2": a document that arrives between the page and the click (the next part of a
    folder upload still running, one the assistant wrote in another tab) must not go with them unseen."""
    DocumentFactory(owner=user, title="Old one")
    DocumentFactory(owner=user, title="Old two")
    page = page_of(user_client.get(LIST))
    assert "Delete all 2" in page
    form = re.search(r'<form method="post" action="/documents/delete/".*?</form>', page, re.S).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    arrived = DocumentFactory(owner=user, title="Arrived meanwhile")
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(reverse("documents:bulk_delete"), {k: html.unescape(v) for k, v in fields.items()})
    assert Document.objects.filter(id=arrived.id).exists(), "deleted a document the confirmation did not count"
    assert list(Document.objects.filter(owner=user)) == [arrived]
    page = page_of(user_client.get(LIST))
    assert "Deleted 2 documents. 1 added since the list was shown was kept." in " ".join(page.split())


@pytest.mark.parametrize("listed_at", ["", "yesterday", "2026-13-45T99:00:00", "2026-11-30T10:00:00", "\x00" * 99])
def test_bulk_delete_with_a_garbled_list_time_deletes_what_matches_now(user_client, user, listed_at):
    DocumentFactory(owner=user, title="One")
    DocumentFactory(owner=user, title="Two")
    response = user_client.post(reverse("documents:bulk_delete"), {"q": "", "listed_at": listed_at})
    assert response.status_code == 302
    assert not Document.objects.filter(owner=user).exists()


# --- The indexing line (documents:progress) -------------------------------------------------------------------


def test_the_indexing_line_counts_only_the_users_and_the_shared_documents(user_client, user, other):
    DocumentFactory(owner=user, status=Document.Status.PENDING, progress=0)
    DocumentFactory(owner=None, status=Document.Status.READY)
    for _ in range(5):
        DocumentFactory(owner=other, status=Document.Status.PENDING, progress=0)
    page = page_of(user_client.get(reverse("documents:progress"), headers={"HX-Request": "true"}))
    assert "Indexing: 1 of 2 done, 1 waiting." in " ".join(page.split())


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_indexing_line_is_get_only(user_client, method):
    assert getattr(user_client, method)(reverse("documents:progress")).status_code == 405


def test_the_indexing_line_ignores_hostile_parameters(quiet, user):
    DocumentFactory(owner=user, status=Document.Status.PROCESSING, progress=40)
    response = quiet.get(f"{reverse('documents:progress')}?q=%00&page=-1&polled=%ED%A0%80&x={'y' * 100_000}")
    assert response.status_code == 200 and "1 in progress" in page_of(response)


def test_the_indexing_line_after_every_document_was_deleted_does_not_say_all_0_indexed(user_client, user):
    """The line polls while documents wait; a bulk delete (another tab) then leaves none: "All 0 documents
    indexed." is not a sentence for that."""
    page = page_of(user_client.get(reverse("documents:progress"), headers={"HX-Request": "true"}))
    assert "All 0 documents indexed" not in page


def test_a_polling_fragment_whose_session_ended_sends_the_page_to_sign_in_not_the_sign_in_page_into_it(client, db):
    """htmx follows a 302 and swaps what it gets: the whole login page, header and all, in place of the indexing
    line (or of each polling row), its `next` the bare fragment's URL. The page goes to sign in instead, and back."""
    status = reverse("documents:status", args=["00000000-0000-0000-0000-0000000000ab"])
    for url in (reverse("documents:progress"), status):
        response = client.get(url, headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/documents/"})
        assert response.status_code == 200 and "Location" not in response, url
        assert response["HX-Redirect"] == reverse("account_login") + "?next=/documents/", url
    # Without htmx (a link, a form), the plain redirect back to the URL itself, as before.
    response = client.get(reverse("documents:progress"))
    assert response.status_code == 302 and response["Location"].endswith("?next=/documents/progress/")
    # A page on another origin is never the way back.
    response = client.get(
        reverse("documents:progress"), headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"}
    )
    assert response["HX-Redirect"] == reverse("account_login") + "?next=/"


def test_a_guests_fragment_sends_the_page_to_sign_up(client, db):
    from tests.factories import GuestFactory

    client.force_login(GuestFactory())
    response = client.get(reverse("documents:progress"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == reverse("account_signup")


def test_a_polling_row_of_a_document_deleted_meanwhile_goes_and_stops_polling(user_client, user, other):
    """A row polls documents:status every few seconds; the document deleted (a bulk delete in another tab), the
    answer was a 404 that htmx does not swap, so the row said "Waiting" and asked again, forever."""
    document = DocumentFactory(owner=user, status=Document.Status.PENDING, progress=0)
    url = reverse("documents:status", args=[document.id])
    document.delete()
    response = user_client.get(url, headers={"HX-Request": "true"})
    assert (response.status_code, response.content) == (286, b"")
    theirs = DocumentFactory(owner=other, status=Document.Status.PENDING)  # the same answer as a missing one
    response = user_client.get(reverse("documents:status", args=[theirs.id]), headers={"HX-Request": "true"})
    assert (response.status_code, response.content) == (286, b"")


def test_another_users_document_status_is_404(user_client, other):
    theirs = DocumentFactory(owner=other, status=Document.Status.PENDING)
    assert user_client.get(reverse("documents:status", args=[theirs.id])).status_code == 404


# --- Upload ---------------------------------------------------------------------------------------------------


def test_a_zero_byte_file_is_refused_by_name_and_the_others_are_taken(
    user_client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = user_client.post(
            reverse("documents:upload"),
            {"files": [upload("empty.md", b""), upload("fine.txt", b"Some text.\n")]},
            follow=True,
        )
    assert ("error", "empty.md: the file is empty.") in flashes(response)
    assert list(Document.objects.filter(owner=user).values_list("original_name", flat=True)) == ["fine.txt"]


@pytest.mark.parametrize(
    "name",
    [
        "x" * 1000 + ".txt",
        "../../../etc/passwd.txt",
        "..\\..\\windows\\win.ini.txt",
        "a\x00b.txt",
        "notes\r.txt",
        "Teapots \u202eexe.txt",
        "\u202e",
        "e\u0301\u0301\u0301.md",
        "COM1.txt",
        ".txt",
    ],
    ids=["1000-chars", "slashes", "backslashes", "nul", "lone-cr", "rtl", "only-rtl", "combining", "com1", "dot-txt"],
)
def test_any_file_name_is_stored_safely_or_refused_readably(
    quiet, user, settings, tmp_path, name, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = quiet.post(reverse("documents:upload"), {"files": [upload(name, b"Some text.\n")]}, follow=True)
    assert response.status_code == 200, response.status_code
    document = Document.objects.filter(owner=user).first()
    if document is None:
        assert any(level == "error" for level, _ in flashes(response)), "refused without a word"
        return
    for text in (document.original_name, document.title, document.file.name):
        assert "\x00" not in text and "\r" not in text and "\u202e" not in text
    assert len(document.original_name) <= 255 and document.title
    assert ".." not in document.file.name.split("/")
    assert document.file.path.startswith(str(settings.MEDIA_ROOT))
    with document.file.open("rb") as handle:
        assert handle.read() == b"Some text.\n"


@pytest.mark.parametrize("name", ["\U0001f642", "@@@", "\u2026", "(!)"], ids=["emoji", "ats", "ellipsis", "punct"])
def test_a_file_name_of_no_letters_is_uploaded_or_refused_with_a_message_not_a_bare_400(
    quiet, user, name, django_capture_on_commit_callbacks
):
    """The storage's get_valid_filename keeps only [-\\w.]: of "🙂" nothing is left, and it raises
    SuspiciousFileOperation, which Django answers with a bare 400 (the files before it in the request stored, the
    page's folder upload then stopping with "The upload stopped after N files")."""
    with django_capture_on_commit_callbacks(execute=False):
        response = quiet.post(
            reverse("documents:upload"),
            {"files": [upload("first.txt", b"First.\n"), upload(name, b"Some text.\n")]},
            follow=True,
        )
    assert response.status_code == 200, response.status_code
    assert Document.objects.filter(owner=user).count() == 2 or any(lvl == "error" for lvl, _ in flashes(response))


def test_an_upload_without_the_csrf_token_is_refused_and_stores_nothing(user, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(reverse("documents:upload"), {"files": [upload("a.txt", b"Text.\n")]})
    assert response.status_code == 403
    assert not Document.objects.exists()


def test_files_sent_as_plain_fields_ask_for_a_file(quiet, user):
    response = quiet.post(reverse("documents:upload"), {"files": ["not a file", "x" * 100_000]}, follow=True)
    assert response.status_code == 200
    assert flashes(response) == [("error", "Choose at least one file to upload.")]


@pytest.mark.parametrize(
    ("left_out", "kinds"),
    [
        ("abc", ".css"),
        ("-5", ".css"),
        ("1e9", ".css"),
        ("99999999999999999999999999", ".css"),
        ("3", "<script>.js</script>" * 10_000),
        ("\x00", "\x00"),
        ("2", ".TAR.GZ .a\u202eb .\u0661"),
    ],
    ids=["abc", "negative", "exponent", "huge", "html-kinds", "nul", "odd-kinds"],
)
def test_a_folders_left_out_count_with_hostile_values_is_said_sanely_or_not_at_all(
    quiet, user, left_out, kinds, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = quiet.post(
            reverse("documents:upload"),
            {
                "files": [upload("intro.html", b"<h1>Intro</h1><p>Hi.</p>", "text/html")],
                "series": "s\x00" * 100,
                "last": "1",
                "left_out": left_out,
                "left_out_kinds": kinds,
            },
            follow=True,
        )
    assert response.status_code == 200
    for level, text in flashes(response):
        assert "<script>" not in text and "\x00" not in text and "\u202e" not in text
        if text.startswith("Left out"):
            said = r"Left out \d{1,7} files? that (is|are) not (a )?documents?( \([.a-z0-9, ]+\))?\."
            assert re.fullmatch(said, text)


def test_a_folder_of_unreadable_files_says_so_in_a_few_lines_not_one_per_file(
    user_client, user, django_capture_on_commit_callbacks
):
    """Parts of a folder upload tally what was taken and what was already there into one line each; every file
    refused (empty, not UTF-8) still adds its own line: 45 empty .md files, 45 error lines above the list."""
    files = [upload(f"empty{i:02}.md", b"") for i in range(45)]
    with django_capture_on_commit_callbacks(execute=False):
        for start in (0, 20):
            user_client.post(reverse("documents:upload"), {"files": files[start : start + 20], "series": "e1"})
        response = user_client.post(
            reverse("documents:upload"), {"files": files[40:], "series": "e1", "last": "1"}, follow=True
        )
    errors = [text for level, text in flashes(response) if level == "error"]
    assert len(errors) == 4, errors
    assert all("empty00.md" in errors[0] and "empty" in line for line in errors[:3])
    assert errors[3] == "42 more files could not be added, for the same reasons."


# --- Upload: HTML pages in odd charsets -----------------------------------------------------------------------


LATIN1_PAGE = (
    b'<html><head><meta charset="%s"><title>Caf\xe9 notes</title></head>'
    b"<body><p>Cr\xe8me br\xfbl\xe9e.</p></body></html>"
)


@pytest.mark.parametrize(
    "charset",
    ["rot13", "base64", "hex", "zlib", "uu", "idna", "undefined", "punycode", "x-no-such-charset", "utf-16le"],
)
def test_a_page_declaring_a_bogus_charset_is_uploaded_or_refused_readably(
    quiet, user, charset, django_capture_on_commit_callbacks
):
    """codecs.lookup knows "rot13", "base64", "hex"...: they are not text encodings, and bytes.decode raises
    LookupError (or UnicodeError for "idna", "undefined", "punycode") out of sniffing: a 500 on upload."""
    data = LATIN1_PAGE.replace(b"%s", charset.encode())
    with django_capture_on_commit_callbacks(execute=False):
        response = quiet.post(
            reverse("documents:upload"), {"files": [upload("cafe.html", data, "text/html")]}, follow=True
        )
    assert response.status_code == 200, response.status_code
    assert Document.objects.filter(owner=user).exists() or any(lvl == "error" for lvl, _ in flashes(response))


@pytest.mark.parametrize("charset", ["rot13", "base64", "idna", "undefined", "punycode"])
def test_parsing_a_page_declaring_a_bogus_charset_raises_only_parse_error(charset):
    data = LATIN1_PAGE.replace(b"%s", charset.encode())
    try:
        parsed = parse_document(data, "cafe.html")
    except ParseError:
        return
    assert parsed.title == "Café notes" and "Crème brûlée." in parsed.text


# --- The HTML parser ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "encoding", "text"),
    [
        ("windows-1251", "cp1251", "Привет, мир"),
        ("koi8-r", "koi8_r", "Привет, мир"),
        ("shift_jis", "shift_jis", "こんにちは世界"),
        ("iso-8859-7", "iso8859_7", "Καλημέρα κόσμε"),
        ("latin1", "cp1252", "Crème brûlée – “quoted”"),  # latin1 means windows-1252 on the web
        ("gb2312", "gb2312", "你好世界"),
    ],
)
def test_a_page_in_a_legacy_charset_is_read_in_it(charset, encoding, text):
    data = (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        f"<title>{text}</title></head><body><h1>{text}</h1><p>{text} body.</p></body></html>"
    )
    parsed = parse_document(data.encode(encoding), "page.html")
    assert parsed.title == text and f"{text} body." in parsed.text


def test_a_page_without_title_or_h1_takes_its_first_heading():
    parsed = parse_document(b"<html><body><h3>Release notes</h3><p>Fixed things.</p></body></html>", "p.html")
    assert parsed.title == "Release notes"


def test_a_page_without_any_heading_has_no_title_but_keeps_its_text():
    parsed = parse_document(b"<html><body><p>Just a paragraph.</p></body></html>", "p.html")
    assert parsed.title == "" and parsed.text == "Just a paragraph."


def test_a_page_that_is_only_a_menu_of_links_keeps_them_as_its_text():
    links = "".join(f'<a href="/p{i}.html">Page {i}</a> ' for i in range(10))
    parsed = parse_document(f"<html><body><div>{links}</div></body></html>".encode(), "index.html")
    assert "Page 0" in parsed.text and "Page 9" in parsed.text


def test_a_menu_before_the_first_heading_is_left_out_and_the_body_kept():
    menu = "".join(f'<a href="/p{i}.html">Menu {i}</a> ' for i in range(5))
    data = f"<html><body><div>{menu}</div><h1>Topic</h1><p>The body.</p></body></html>".encode()
    parsed = parse_document(data, "page.html")
    assert "Menu" not in parsed.text and parsed.text == "The body." and parsed.title == "Topic"


def test_a_page_that_is_a_menu_and_a_heading_only_says_it_has_no_text():
    menu = "".join(f'<a href="/p{i}.html">Menu {i}</a> ' for i in range(5))
    data = f"<html><body><div>{menu}</div><h1>Topic</h1></body></html>".encode()
    with pytest.raises(ParseError, match="No text could be extracted"):
        parse_document(data, "page.html")


@pytest.mark.parametrize("closed", [True, False], ids=["closed", "unclosed"])
def test_a_page_nested_100000_deep_is_read_in_seconds(closed):
    depth = 100_000
    data = "<html><body><h1>Deep</h1>" + "<div>" * depth + "hello world" + ("</div>" * depth if closed else "")
    started = time.monotonic()
    parsed = parse_document(data.encode(), "deep.html")
    assert parsed.text == "hello world" and parsed.title == "Deep"
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    "markup",
    [
        "<a href='/x'>" * 20_000 + "link" + "</a>" * 20_000,
        "<table>" + "<tr><td>" * 20_000 + "cell",
        "<ul>" + "<li><a href='#a'>x</a>" * 20_000 + "</ul>",
        "<h2>" * 20_000 + "heading",
        "<pre>" * 20_000 + "code",
        "<main>" * 5_000 + "<p>main text</p>",
        "<sup>" * 20_000 + "2",
        "<svg><title>" * 5_000 + "t",
    ],
    ids=["links", "table", "local-links", "headings", "pre", "mains", "sups", "svg-titles"],
)
def test_deep_or_wide_hostile_markup_parses_or_fails_with_parse_error(markup):
    data = f"<html><body><h1>T</h1>{markup}<p>after</p></body></html>".encode()
    started = time.monotonic()
    with contextlib.suppress(ParseError):
        parse_document(data, "hostile.html")
    assert time.monotonic() - started < 30


def test_a_page_with_nul_bytes_and_lone_crs_is_cleaned():
    data = b"<html><body><h1>Ti\x00tle\r</h1><p>a\x00b\rc</p></body></html>"
    parsed = parse_document(data, "p.html")
    assert "\x00" not in parsed.text + parsed.title and "\r" not in parsed.text + parsed.title
