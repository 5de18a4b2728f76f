"""HTML: the page's main content by its headings, without menus, footers and in-page tables of contents."""

from __future__ import annotations

import functools
import re

from documents.parsing.base import Builder, ParseError

# --- HTML -----------------------------------------------------------------------------------------------------

_HTML_DROP = [
    "script", "style", "nav", "footer", "head", "noscript", "template", "svg", "canvas", "iframe", "object",
    "embed", "select", "button",
]  # fmt: skip
_HTML_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details", "dialog", "div",
        "dl", "dt", "fieldset", "figcaption", "figure", "form", "header", "hr", "html", "legend", "li", "main",
        "menu", "ol", "p", "section", "summary", "table", "ul",
    }
)  # fmt: skip
_REFRESH = re.compile(r"^\s*refresh\s*$", re.IGNORECASE)
REDIRECT_STUB_CHARS = 200  # a page that redirects (meta refresh) with less text than this is only a signpost
_HTML_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# In a table row, what makes it page layout rather than a row of data.
_LAYOUT_MARKS = ["h1", "h2", "h3", "h4", "h5", "h6", "pre", "table"]
_WHITESPACE = re.compile(r"\s+")
# Page furniture outside <nav>/<footer> elements, named by the id or class generators and themes give it: a site
# footer ("Last updated ..."), a table of contents repeating every heading, breadcrumbs, and the links to the
# previous and next pages: DocBook's navheader and navfooter (its chunked HTML: many projects' manuals), Javadoc's
# topNav and bottomNav, Doxygen's navpath, gtk-doc's navigation table. Those name the neighbouring pages' topics, so
# they would put other pages' words into this page's first and last passages. Whole tokens only, so that
# "footer-note" in an article's own markup stays. Also the permalink sign ("¶") that Sphinx and MkDocs
# (Python-Markdown's toc extension) put in every heading and API signature as <a class="headerlink">: it was in every
# section's title.
_HTML_FURNITURE = frozenset(
    {
        "footer", "site-footer", "page-footer", "toc", "table-of-contents", "breadcrumb", "breadcrumbs", "skip-link",
        "navheader", "navfooter", "navigation", "navbar", "topnav", "bottomnav", "subnav", "navpath", "nav",
        "global-nav", "nav-panel", "mini-toc", "navbarcell1", "navbarcell1rev", "navbarcell2", "navbarcell3",
        "titlearea", "headerlink",
    }
)  # fmt: skip
# Links that say where they lead in the document's order (Texinfo's "Next: ..., Previous: ..., Up: ..." above every
# node, in every GNU manual): a small block of nothing else is the way to the neighbouring pages.
_NAVIGATION_RELS = frozenset({"next", "prev", "previous", "up", "contents", "index", "home", "start", "first", "last"})
# What separates the links of a menu ("Home | Index", "[ << ] [ >> ]", "« previous | up | next »", "A • B"): not
# words of the page's own.
_LINK_SEPARATORS = re.compile(r"[\[\]|«»<>•·:,()/\-–—]")
_HTML_FURNITURE_ROLES = '[role="navigation"], [role="contentinfo"], [role="search"], [role="dialog"]'
# Elements a document's pages may open in all (an e-book's chapters add up). BeautifulSoup and the passages below
# cost about 60 µs and 1.7 KB an element: a 4 MB page of a million "<p>x" took 59 s and 1.7 GB, and a 20 MB upload
# would have asked a worker for 8 GB. The largest pages of Rust's documentation (the book on one page: 25,000; an
# 8 MB source listing: 154,000) stay well within it.
HTML_MAX_ELEMENTS = 300_000
_START_TAG = re.compile(r"<[a-zA-Z]")


def parse_html(text: str, builder: Builder) -> None:
    from bs4 import BeautifulSoup

    # Counted before anything is built: a start tag is a "<" before a letter, as html.parser reads one.
    builder.html_elements += sum(1 for _ in _START_TAG.finditer(text))
    if builder.html_elements > HTML_MAX_ELEMENTS:
        raise ParseError(
            f"This file has more than {HTML_MAX_ELEMENTS:,} HTML elements (tags), which is too many to process; split "
            "it into smaller files."
        )
    soup = BeautifulSoup(text, builder=_linear_tree_builder()())
    # An inline <svg> or MathML can hold a <title> of its own (a tooltip), which is not the page's.
    title_tag = _page_title(soup)
    builder.titles.append(title_tag.get_text(" ") if title_tag else "")
    redirects = soup.find("meta", attrs={"http-equiv": _REFRESH}) is not None
    _walk(_content(soup, keep_furniture=False), builder)
    builder.flush()
    if redirects and sum(len(section.text) for section in builder.sections) < REDIRECT_STUB_CHARS:
        # A page left where a moved one was, sending the browser on ("The node you are looking for is at Hunks."):
        # most files of a Texinfo manual's folder, each a passage that matched its target's name.
        raise ParseError("This page only sends the browser on to another page; it has no text of its own to index.")
    if not builder.sections:
        # Nothing but furniture: a chapter's page that only lists its sections between the links to its neighbours
        # (DocBook). Read as it is, as before furniture was left out, rather than refused as a page without text.
        _walk(_content(BeautifulSoup(text, builder=_linear_tree_builder()()), keep_furniture=True), builder)


def _terminators(raw: str) -> dict[str, int]:
    """Where the last of each construct's closing markup starts in `raw` (-1 for none): a construct opened after it
    can never be closed."""
    last = {"gt": raw.rfind(">"), "comment": -1, "section": -1, "ms_section": -1}
    for key, pattern in (("comment", _COMMENT_CLOSE), ("section", _SECTION_CLOSE), ("ms_section", _MS_SECTION_CLOSE)):
        for match in pattern.finditer(raw):
            last[key] = match.start()
    return last


# The standard library's closing patterns (html.parser, _markupbase), and the names of the marked sections closed
# by "]]>" (the others, Word's "<![if ...]>", by "]>").
_COMMENT_CLOSE = re.compile(r"--\s*>")
_SECTION_CLOSE = re.compile(r"]\s*]\s*>")
_MS_SECTION_CLOSE = re.compile(r"]\s*>")
_SECTION_NAME = re.compile(r"\s*([a-zA-Z][-_.a-zA-Z0-9]*)")
_SECTIONS = frozenset({"temp", "cdata", "ignore", "include", "rcdata"})
_MS_SECTIONS = frozenset({"if", "else", "endif"})


@functools.cache
def _linear_tree_builder():
    """BeautifulSoup's "html.parser" builder, its parser told at once that a construct opened after the last of its
    closing markup is not closed.

    html.parser (Python 3.11.7's, and any before 3.11.14 or 3.12.11) stops at such a construct ("<!--", "<![CDATA[",
    "<?", "</", "<a" with no end after it) and, at the end of the page, tries it again and then every "<" after it,
    each try searching to the end of the page: 120 KB of "<!--x>" took 15 s, 120 KB of "<a b='" 72 s, and 2 MB of
    either would hold a worker (or, attached in a chat, a web process) for hours. Such a construct is read as the
    text html.parser makes of it at the end of the page, at once; pages that close what they open are read exactly
    as before.
    """
    from bs4.builder import HTMLParserTreeBuilder
    from bs4.builder._htmlparser import BeautifulSoupHTMLParser

    class LinearHTMLParser(BeautifulSoupHTMLParser):
        _scanned: str | None = None
        _last: dict[str, int]

        def _closing(self, key: str) -> int:
            if self._scanned is not self.rawdata:  # the feed and the close each read a new string, once
                self._scanned, self._last = self.rawdata, _terminators(self.rawdata)
            return self._last[key]

        def _as_text(self, i: int) -> int:
            """What html.parser makes of a construct never closed, at the end of the page: text, to the next ">"
            (included) or else to the next "<". Its own search for a ">" that is not there went to the end of the
            page again for each "<" (2 MB of "<![CDATA[" took minutes)."""
            raw = self.rawdata
            if self._closing("gt") > i:
                end = raw.find(">", i + 1) + 1
            else:
                end = raw.find("<", i + 1)
                end = end if end > 0 else i + 1
            self.handle_data(raw[i:end])
            return end

        def parse_starttag(self, i):
            return self._as_text(i) if self._closing("gt") < i else super().parse_starttag(i)

        def parse_endtag(self, i):
            return self._as_text(i) if self._closing("gt") < i + 1 else super().parse_endtag(i)

        def parse_pi(self, i):
            return self._as_text(i) if self._closing("gt") < i + 2 else super().parse_pi(i)

        def parse_comment(self, i, report=1):
            return self._as_text(i) if self._closing("comment") < i + 4 else super().parse_comment(i, report)

        def parse_html_declaration(self, i):
            if self.rawdata.startswith("<![", i):
                name = _SECTION_NAME.match(self.rawdata, i + 3)
                section = name.group(1).lower() if name else ""
                if (section in _SECTIONS and self._closing("section") < i + 3) or (
                    section in _MS_SECTIONS and self._closing("ms_section") < i + 3
                ):
                    return self._as_text(i)
            elif not self.rawdata.startswith("<!--", i) and self._closing("gt") < i + 2:
                return self._as_text(i)  # a doctype or a bogus comment ("<!x"), closed by the next ">"
            return super().parse_html_declaration(i)

    class LinearTreeBuilder(HTMLParserTreeBuilder):
        def feed(self, markup, _parser_class=LinearHTMLParser):
            super().feed(markup, _parser_class=LinearHTMLParser)

    return LinearTreeBuilder


def _page_title(soup):
    """The first <title> outside any inline <svg> or MathML, which can hold a <title> of its own (a tooltip), which is
    not the page's. One walk that skips those: a lookup of each title's ancestors was quadratic on thousands of
    titles nested in an <svg>."""
    from bs4 import Tag

    stack = [soup]
    while stack:
        tag = stack.pop()
        if tag.name == "title":
            return tag
        if tag.name not in ("svg", "math"):
            stack.extend(reversed([child for child in tag.children if isinstance(child, Tag)]))
    return None


def _content(soup, *, keep_furniture: bool):
    """The part of a page to read: without scripts, styles and the like, menus made of links only, and the site's
    furniture named as such (footers, tables of contents, links to the neighbouring pages) unless `keep_furniture`."""
    for tag in soup.find_all(_HTML_DROP):
        tag.decompose()
    if not keep_furniture:
        for tag in soup.select(f"[hidden], {_HTML_FURNITURE_ROLES}"):
            tag.decompose()
        for tag in soup.find_all(_is_furniture):
            tag.decompose()
    for tag in _link_lists(soup):
        tag.decompose()
    # A page that marks its main content (one <main>, or role="main") is read from there only: what is around it
    # is the site's, repeated on every page (headers, menus, sidebars), and would crowd out the page's own text.
    mains = soup.find_all("main") or soup.select('[role="main"]')
    if len(mains) == 1 and mains[0].get_text(strip=True):
        return mains[0]
    return soup


def _walk(soup, builder: Builder) -> None:
    """The page's text into `builder`: blocks by the elements they are in, headings as the sections they start."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    line: list[str] = []
    # The tags that hold a heading, code or a table (in a row, those make it page layout), found from each of those
    # up, once: a search below every row was quadratic on rows nested thousands deep.
    layout: set[int] = set()
    for mark in soup.find_all(_LAYOUT_MARKS):
        parent = mark.parent
        while parent is not None and id(parent) not in layout:
            layout.add(id(parent))
            parent = parent.parent

    def flush_line() -> None:
        parts = (part.strip() for part in "".join(line).split("\n"))
        line.clear()
        block = "\n".join(part for part in parts if part)
        if block:
            builder.add(block)

    # An explicit stack rather than recursion: a hostile page can nest tags thousands deep.
    stack = [(iter(soup.children), False)]
    while stack:
        children, is_block = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            if is_block:
                flush_line()
            continue
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctype, CDATA, processing instructions
                line.append(_WHITESPACE.sub(" ", str(child)))
            continue
        if not isinstance(child, Tag):
            continue
        name = (child.name or "").lower()
        if name in _HTML_HEADINGS:
            flush_line()
            heading = child.get_text(" ", strip=True)
            if heading:
                builder.heading(int(name[1]), heading)
        elif name == "dt" and _SIGNATURE_CLASS in (child.get("class") or ()):
            # An API entry (Sphinx's autodoc and domains: a function, class, method, attribute) starts a section of
            # its own, named by its full name: its page is otherwise one section per chapter of dozens of entries,
            # and a passage starting mid-entry ("Return type: ...") did not say which function it describes.
            flush_line()
            builder.heading(3, _signature_name(child))
            stack.append((iter(child.children), True))
        elif name == "br":
            line.append("\n")
        elif name == "pre":
            flush_line()
            builder.add(child.get_text().strip("\n"))
        elif name == "tr" and id(child) not in layout:
            cells = (cell.get_text(" ", strip=True) for cell in child.find_all(["td", "th"], recursive=False))
            line.append("\n" + " | ".join(cell for cell in cells if cell) + "\n")
        elif name in ("tr", "td", "th"):
            # A row that lays out a page (its cells hold headings, code, tables of their own: older sites are built
            # so) is read cell by cell, as blocks; one line of it lost every heading and code block of the page.
            flush_line()
            stack.append((iter(child.children), True))
        else:
            block = name in _HTML_BLOCKS
            if block:
                flush_line()
            elif name == "sup" and next((part for part in reversed(line) if part), "")[-1:].isdigit():
                # A power: "2<sup>64</sup>" read "264" (SQLite's limit on rows, quoted as a fact). After a word it
                # is more often a footnote's number, left as it was.
                line.append("^")
            stack.append((iter(child.children), block))
    flush_line()


_SIGNATURE_CLASS = "sig"  # Sphinx 4 and later: <dt class="sig sig-object py" id="flask.send_file">
_QUALIFIED_NAME = re.compile(r"[\w.:]+")


def _signature_name(dt) -> str:
    """An API entry's full name: its anchor when that is one ("flask.Flask.add_url_rule": the class a method is
    in), else the name as its signature shows it (prefix and name, without the parameters)."""
    anchor = dt.get("id") or ""
    if _QUALIFIED_NAME.fullmatch(anchor):
        return anchor
    parts = dt.select(".sig-prename, .sig-name")
    return "".join(part.get_text("", strip=True) for part in parts) or dt.get_text(" ", strip=True)


def _link_lists(soup) -> list:
    """Blocks that are nothing but links (three or more, every word of them inside a link) and are a site's menu or
    a page's own table of contents: those before the page's first heading, and those whose links all go to places
    on the page itself ("#..."). Generated documentation marks neither with <nav> or a class: SQLite's pages put
    their menu ("Home Menu About Documentation Download...") and a contents list in plain <div>s, so every page's
    first passage was its menu and a list of its own headings, which questions about the page then retrieved.

    Two passes over an explicit stack (a hostile page nests tags thousands deep): one counts each tag's text,
    link text and links from its children up, the next takes the outermost blocks that qualify, in page order.
    """
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    # id(tag): [characters, characters in links, links, links to the page, links elsewhere, headings, links with a
    # rel of the document's order]; separators between links are not counted as characters.
    stats: dict[int, list[int]] = {}
    stack = [(soup, False)]
    while stack:
        tag, visited = stack.pop()
        if not visited:
            stack.append((tag, True))
            stack.extend((child, False) for child in tag.children if isinstance(child, Tag))
            continue
        counts = [0, 0, 0, 0, 0, 1 if tag.name in _HTML_HEADINGS else 0, 0]
        for child in tag.children:
            if isinstance(child, Tag):
                counts = [a + b for a, b in zip(counts, stats[id(child)], strict=True)]
            elif isinstance(child, NavigableString) and not isinstance(child, PreformattedString):
                counts[0] += len(_LINK_SEPARATORS.sub("", "".join(str(child).split())))
        if tag.name == "a":
            href = (tag.get("href") or "").strip().lower()
            local, elsewhere = href.startswith("#"), bool(href) and not href.startswith(("#", "javascript:"))
            ordered = bool({rel.lower() for rel in tag.get_attribute_list("rel") if rel} & _NAVIGATION_RELS)
            counts = [counts[0], counts[0], 1, int(local), int(elsewhere), counts[5], int(ordered)]
        stats[id(tag)] = counts

    found = []
    before_heading = stats[id(soup)][5] > 0  # a page without headings has no "before": its links may be its text
    stack = [soup]
    while stack:
        tag = stack.pop()
        characters, in_links, links, local, elsewhere, headings, ordered = stats[id(tag)]
        candidate = tag.name not in ("[document]", "html", "body", "main", "a") and not headings
        menu = links >= 3 and characters and in_links == characters
        # Texinfo's "Next: A, Previous: B, Up: C [Contents][Index]": its labels are the only other words.
        neighbours = links >= 2 and ordered == links and characters - in_links <= 40
        if candidate and ((menu and (before_heading or (local >= 3 and not elsewhere))) or neighbours):
            found.append(tag)
            continue
        if tag.name in _HTML_HEADINGS:
            before_heading = False
            continue
        stack.extend(reversed([child for child in tag.children if isinstance(child, Tag)]))
    return found


def _is_furniture(tag) -> bool:
    if tag.name in ("html", "body", "main"):
        return False
    names = tag.get("class") or []
    identifier = tag.get("id")
    return any(name.lower() in _HTML_FURNITURE for name in [*names, *([identifier] if identifier else [])])
