"""Documents in a real chromium: download the original, an uploaded page that never opens as one, rename by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from documents.models import Document
from tests.factories import UserFactory
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NOTES_MD = b"# Notes\n\nA paragraph about pgvector.\n"
# The page: served inline on the app's origin, its meta refresh navigated the tab away.
HOSTILE_HTML = (
    b'<!doctype html><html><head><meta http-equiv="refresh" content="0; url=https://evil.example/">'
    b"<title>Invoice</title></head><body><p>Your invoice.</p><script>document.title = 'ran'</script></body></html>"
)


def signed_in_page(new_page, live_app):
    page = new_page()
    page.context.add_cookies([{"name": "sessionid", "value": session_for(UserFactory()), "url": live_app.url}])
    return page


def upload(page, *files: tuple[str, str, bytes]) -> None:
    page.goto("/documents/")
    page.get_by_label("or choose them").set_input_files(
        [{"name": name, "mimeType": mime_type, "buffer": data} for name, mime_type, data in files]
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    said = f"{files[0][0]} uploaded." if len(files) == 1 else f"{len(files)} files uploaded"
    expect(page.get_by_text(said)).to_be_visible()


def test_download_the_original_and_an_uploaded_page_never_opens_as_a_page(new_page, live_app, fake_anthropic):
    page = signed_in_page(new_page, live_app)
    upload(page, ("notes.md", "text/markdown", NOTES_MD), ("invoice.html", "text/html", HOSTILE_HTML))

    # From the list row's menu.
    row = page.locator(".document-row", has_text="invoice.html")
    with page.expect_download() as download:
        row.get_by_role("link", name="Download the original of invoice").click()
    assert download.value.suggested_filename == "invoice.html"
    assert Path(download.value.path()).read_bytes() == HOSTILE_HTML

    # Opened directly, the page is a download too: its refresh and its script never run on this origin.
    url = page.get_attribute(".document-row:has-text('invoice.html') a[download]", "href")
    page.goto("/documents/")
    with page.expect_download() as download:
        try:
            page.goto(url)
        except PlaywrightError as exc:  # chromium reports a navigation that became a download as an error
            assert "Download is starting" in str(exc)
    assert download.value.suggested_filename == "invoice.html"
    page.wait_for_timeout(300)
    assert page.url.startswith(live_app.url) and "evil.example" not in page.url
    assert page.title() != "ran"

    # From the document's page.
    page.goto("/documents/")
    page.get_by_role("link", name="notes", exact=True).click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download original").click()
    assert download.value.suggested_filename == "notes.md"
    assert Path(download.value.path()).read_bytes() == NOTES_MD


def test_rename_with_the_keyboard_in_place_then_an_empty_title_is_refused(new_page, live_app, fake_anthropic):
    page = signed_in_page(new_page, live_app)
    upload(page, ("notes.md", "text/markdown", NOTES_MD))
    page.get_by_role("link", name="notes", exact=True).click()
    page.wait_for_load_state("load")  # htmx binds the form on DOMContentLoaded; Enter before that posts the page
    detail_url = page.url

    summary = page.locator("summary", has_text="Rename")
    summary.focus()
    page.keyboard.press("Enter")  # opens the disclosure
    page.keyboard.press("Tab")
    title_box = page.get_by_label("New title")
    expect(title_box).to_be_focused()
    title_box.fill("Meeting notes, June")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text("Meeting notes, June")
    expect(page.get_by_role("status").filter(has_text="Renamed.")).to_be_visible()
    expect(page).to_have_title("Meeting notes, June · Chatbot")
    assert page.url == detail_url  # swapped in place, no reload
    expect(page.locator("summary", has_text="Rename")).to_be_focused()  # focus is not lost with the old form

    page.goto("/documents/")
    expect(page.get_by_role("link", name="Meeting notes, June", exact=True)).to_be_visible()

    page.goto(detail_url)
    page.locator("summary", has_text="Rename").click()
    page.get_by_label("New title").fill("   ")
    page.get_by_role("button", name="Save title").click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("A title cannot be empty.")
    expect(page.get_by_label("New title")).to_be_focused()
    expect(page.get_by_label("New title")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", level=1)).to_have_text("Meeting notes, June")


def test_the_document_page_fits_a_phone_in_both_themes(new_page, live_app, fake_anthropic):
    page = signed_in_page(new_page, live_app)
    upload(page, ("a-rather-long-file-name-for-a-phone-screen-notes.md", "text/markdown", NOTES_MD))
    page.set_viewport_size({"width": 360, "height": 740})
    page.get_by_role("link", name="a rather long file name for a phone screen notes", exact=True).click()
    page.locator("summary", has_text="Rename").click()
    for theme in ("light", "dark"):
        page.evaluate("theme => document.documentElement.dataset.theme = theme", theme)
        assert not scrolls_sideways(page), theme
        for name in ("Download original", "Save title"):
            box = page.get_by_role("link" if name.startswith("Download") else "button", name=name).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, (theme, name, box)


def test_a_folder_of_pages_goes_up_in_parts_and_is_told_once(new_page, live_app, fake_anthropic):
    # A documentation folder is hundreds of pages: one form post of them was refused whole (Django's 100 files per
    # request) or cut at 20, with a line per file. The page sends parts of 20 and the list says the total once.
    page = signed_in_page(new_page, live_app)
    page.goto("/documents/")
    pages = [
        {"name": f"page{i:02}.html", "mimeType": "text/html", "buffer": f"<h1>Page {i}</h1><p>Text {i}.</p>".encode()}
        for i in range(45)
    ]
    page.get_by_label("or choose them").set_input_files(pages)
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_text("45 files uploaded.")).to_be_visible()
    expect(page.locator(".document-row")).to_have_count(45)
    assert page.locator(".flash-success").count() == 1


def test_a_whole_folder_goes_up_without_its_images_and_stylesheets(new_page, live_app, fake_anthropic, tmp_path):
    # A documentation tree: pages in subfolders, with its stylesheet, images and an archive beside them.
    (tmp_path / "c3ref").mkdir()
    for name in ("index.html", "wal.html", "c3ref/open.html", "notes.md"):
        (tmp_path / name).write_text(f"<h1>{name}</h1><p>Text of {name}.</p>")
    (tmp_path / "sqlite.css").write_text("body { color: black }")
    (tmp_path / "logo.gif").write_bytes(b"GIF89a" + bytes(20))
    (tmp_path / ".hidden.html").write_text("<p>Not this.</p>")
    # A Sphinx build's copy of each page's source: the page itself is read, its source is left out.
    (tmp_path / "_sources").mkdir()
    (tmp_path / "_sources" / "wal.rst.txt").write_text("WAL\n===\n\n.. note:: Text of wal.html.\n")
    (tmp_path / "guide.rst").write_text("Guide\n=====\n\nSetup\n-----\n\nRun it.\n")
    page = signed_in_page(new_page, live_app)
    page.goto("/documents/")
    page.get_by_label("or a whole folder").set_input_files(tmp_path)
    expect(page.get_by_text("5 files uploaded.")).to_be_visible()
    expect(page.get_by_text("Left out 3 files that are not documents")).to_contain_text("Sphinx's _sources copies")
    expect(page.locator(".document-row")).to_have_count(5)


def test_the_upload_notice_never_contradicts_the_live_indexing_status(new_page, live_app, fake_anthropic):
    """The walk's new user read "notes.md uploaded; it is being processed." beside "All 1 document indexed." once the
    worker was done: the notice says what happened, the status (polled) how far indexing has come."""
    page = signed_in_page(new_page, live_app)
    upload(page, ("notes.md", "text/markdown", NOTES_MD))
    status = page.locator("#indexing")
    expect(status).to_contain_text("Indexing: 0 of 1 done")

    Document.objects.update(status=Document.Status.READY)  # the worker's part, done
    expect(status).to_contain_text("All 1 document indexed.")
    expect(page.locator(".flash")).to_have_text("notes.md uploaded.")
    expect(page.locator("main")).not_to_contain_text("processed")
