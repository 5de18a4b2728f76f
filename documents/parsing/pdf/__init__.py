"""PDF: text by pages, headings from the outline or from font sizes, running headers and page numbers left out.

The package: this module reads a file with pypdf within its limits; lines.py makes a page's lines (sizes, margin
notes, repaired characters), furniture.py leaves out what every page repeats (running headers, page numbers,
tables of contents) and rejoins hyphenated words, headings.py finds the headings (the outline, or font sizes).
"""

from __future__ import annotations

import io
import re

from documents.parsing.base import Builder, ParseError, password_protected
from documents.parsing.pdf.furniture import _dehyphenate, _whole_words, _without_contents_lists, _without_page_furniture
from documents.parsing.pdf.headings import _FontHeadings, _pdf_outline, _pdf_outline_items, _pdf_outline_title
from documents.parsing.pdf.lines import _pdf_page_lines, _PdfHeading, _PdfLine

# What a hostile PDF may make pypdf do. One stream inflates to at most this much (pypdf's default, 75 MB, took
# 0.15 s and 200 MB a try, and a ToUnicode map of 70 MB 4 s and 1 GB); a page's drawing instructions of 20 MB are
# already far more than any page of text has.
PDF_MAX_STREAM_BYTES = 20_000_000


# The pages' drawing instructions, all pages together, each page's counted even when pages share one stream (pypdf
# reads it again for each): reading costs 0.1 s a MB of spaces to 0.5 s a MB of operators, and a stream shared by
# thousands of pages (or one that failed to inflate, tried again for each) was hours of work for a file of under a
# MB. A LaTeX manual (auto-multiple-choice's) has 22 KB a page: 2,000 such pages are 44 MB.
PDF_MAX_CONTENT_BYTES = 50_000_000


# Pages in the page tree (pypdf's default is 100,000: 10 s and 450 MB before the first page was read).
PDF_MAX_PAGES = 20_000


def parse_pdf(data: bytes, builder: Builder) -> None:
    """One Section per page and heading: headings from the outline (bookmarks) if any, else from font sizes."""
    import pypdf

    _correct_pypdf_space_widths()
    limits = {
        name: PDF_MAX_STREAM_BYTES
        for name in (
            "zlib_maximum_output_length",
            "lzw_maximum_output_length",
            "run_length_maximum_output_length",
            "brotli_maximum_output_length",
            "array_based_stream_maximum_output_length",
        )
    }
    with pypdf.apply_configuration(**limits, page_tree_maximum_entries=PDF_MAX_PAGES):
        _parse_pdf(pypdf, data, builder)


def _parse_pdf(pypdf, data: bytes, builder: Builder) -> None:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # Many PDFs are encrypted only to restrict printing/copying and open with an empty password.
            try:
                opened = reader.decrypt("") != pypdf.PasswordType.NOT_DECRYPTED
            except Exception as exc:  # an unsupported or broken encryption dictionary
                raise ParseError(
                    "This PDF is encrypted in a way that could not be opened; remove the protection and upload it "
                    "again."
                ) from exc
            if not opened:
                raise password_protected("PDF")
        pages = reader.pages
        page_count = len(pages)
    except ParseError:
        raise
    except pypdf.errors.LimitReachedError as exc:
        if "page tree" in str(exc):
            raise ParseError(
                f"This PDF has more than {PDF_MAX_PAGES:,} pages, which is too many to process; split it into "
                "smaller files."
            ) from exc
        raise ParseError("This PDF could not be read; it may be damaged.") from exc
    except Exception as exc:
        raise ParseError("This PDF could not be read; it may be damaged.") from exc

    builder.titles.append(_pdf_metadata_title(reader))

    # Font sizes only mean something relative to the body text of the whole document, so every page is read
    # before any heading is decided; the raw length is bounded here as the builder bounds the clean text.
    read: list[tuple[int, list[_PdfLine]]] = []
    failures = extracted = content = 0
    for index in range(page_count):
        try:
            page = pages[index]
            size = _pdf_content_size(page)
        except Exception:
            size = None
        content += PDF_MAX_STREAM_BYTES if size is None else size
        _check_content(content)
        if size is None:  # its contents could not be read (inflated past the limit, damaged): nor can its text
            failures += 1
            continue
        try:
            lines = _pdf_page_lines(page)
        except pypdf.errors.LimitReachedError:
            # One of pypdf's limits stopped the page (a font's ToUnicode map or widths shared by every page's font,
            # inflated or read again for each): counted as that much work, as contents that failed are.
            failures += 1
            content += PDF_MAX_STREAM_BYTES
            _check_content(content)
            continue
        except Exception:  # one broken page (bad font, bad stream) should not lose the rest of the document
            failures += 1
            continue
        extracted += sum(len(line.text) for line in lines)
        if extracted > 2 * builder.max_chars:
            raise builder.too_long()
        read.append((index, lines))

    read = _without_page_furniture(read)
    read = _without_contents_lists(read)
    words = _whole_words(read)
    fonts = _FontHeadings(read)
    outline = _pdf_outline(reader)
    builder.titles += [fonts.title, _pdf_outline_title(outline, read)]
    for index, items in _pdf_outline_items(read, outline) if outline else fonts.items(read):
        builder.page = index + 1
        body: list[str] = []
        for item in items:
            if isinstance(item, _PdfHeading):
                builder.add(_dehyphenate("\n".join(body), words))
                body.clear()
                builder.heading(item.level, item.text)
            else:
                body.append(item)
        builder.add(_dehyphenate("\n".join(body), words))
        builder.flush()  # a Section never crosses a page, so each passage knows its page
    if failures and not builder.sections:
        raise ParseError("This PDF could not be read; it may be damaged.")


def _correct_pypdf_space_widths() -> None:
    """Make pypdf see word gaps in the text of composite fonts whose Unicode map has no space (XeTeX, LuaTeX).

    pypdf puts a space where the pen moves on by more than about half a space, and takes a space's width from the
    character that maps to " " in the font's ToUnicode map, else from character code 32. An Identity-H font (XeTeX's
    and LuaTeX's, with fontspec) has no space glyph in its map, and its code 32 is some glyph: DejaVu Serif's is 838
    units wide while its word gaps are 318, so no gap was a space and a XeTeX manual came out as
    "Themaximumnumberofstudentspertest" (1,407 runs of 22 letters or more in 101 pages; 6 with this). Such a font's
    space is taken as half its average glyph width instead. pypdf 7.1.1 still does this; the patch is made once,
    and not at all on a pypdf whose internals differ (requirements.lock pins the one it was written against).
    """
    try:
        from pypdf.generic._font import Font
    except ImportError:
        return
    original = getattr(Font, "from_font_resource", None)
    if getattr(original, "__self__", None) is not Font or getattr(original, "corrects_space_width", False):
        return  # not the classmethod it was written against, or already corrected

    def from_font_resource(cls, *args, **kwargs):
        font = original.__func__(cls, *args, **kwargs)
        try:
            mapped = font.character_map
            if (
                mapped
                and isinstance(font.encoding, str)  # a composite font's code ranges, not a simple font's table
                and font.space_char == " "  # pypdf found no character mapping to a space...
                and " " in font.character_widths  # ...and took code 32's width, a glyph's
                and " " not in mapped.values()
            ):
                widths = [w for code, w in font.character_widths.items() if code != "default" and w > 0]
                if widths:
                    font.space_width = sum(widths) / len(widths) / 2
        except (AttributeError, TypeError):  # another pypdf's Font: leave it as pypdf made it
            pass
        return font

    from_font_resource.corrects_space_width = True
    Font.from_font_resource = classmethod(from_font_resource)


def _check_content(content: int) -> None:
    if content > PDF_MAX_CONTENT_BYTES:
        raise ParseError(
            "This PDF is too complex to read: its pages hold more than "
            f"{PDF_MAX_CONTENT_BYTES // 1_000_000} MB of drawing instructions. Split it into smaller files."
        )


def _pdf_content_size(page) -> int:
    """The length of the page's drawing instructions, decoded (pypdf keeps them for its text extraction)."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = contents if isinstance(contents, list) else [contents]
    return sum(len(stream.get_object().get_data()) for stream in streams if hasattr(stream.get_object(), "get_data"))


# A converter's input file where the title belongs: dvips writes "float.dvi" into every PDF that Distiller or
# Ghostscript makes of it (and Word "report.docx"), which document_title would keep as "float".
_FILE_NAME_TITLE = re.compile(
    r"^[^\s/\\]+\.(?:dvi|tex|dtx|ps|eps|pdf|docx?|odt|rtf|txt|md|html?|xml|indd|qxd|pages|pptx?|xlsx?)$", re.IGNORECASE
)


def _pdf_metadata_title(reader) -> str:
    try:
        info = reader.metadata
        title = str(info.title) if info and info.title else ""
    except Exception:  # metadata is optional; a broken Info dictionary must not lose the text
        return ""
    return "" if _FILE_NAME_TITLE.match(title.strip()) else title
