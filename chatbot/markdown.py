"""Markdown from models and documents to safe HTML: markdown-it-py + Pygments, then nh3.

Model output is untrusted. Raw HTML in the source is escaped by markdown-it (html=False); whatever the
renderer produces is then sanitised by nh3 with a small allow-list, so even a renderer bug cannot emit script,
event handlers or javascript: URLs. Images become links: external images would leak the reader's IP and are
blocked by the CSP anyway.
"""

from __future__ import annotations

import html

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(language.strip()) if language.strip() else None
    except ClassNotFound:
        lexer = None
    if lexer is None:
        return ""  # markdown-it escapes and wraps it itself
    return highlight(code, lexer, _formatter)


def _render_image(self, tokens, idx, options, env) -> str:
    token = tokens[idx]
    src = token.attrGet("src") or ""
    alt = "".join(child.content for child in (token.children or [])) or "image"
    return f'<a href="{html.escape(src, quote=True)}">[image: {html.escape(alt)}]</a>'


_md = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight})
    .enable("table")
    .enable("strikethrough")
)
_md.add_render_rule("image", _render_image)

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "sup",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "div": {"class"},
    "pre": {"class"},
    "ol": {"start"},
    "sup": {"class"},
}


def sanitize(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    return sanitize(_md.render(text or ""))


def plain_text(text: str) -> str:
    """The words a reader sees in Markdown, without its syntax, on one line: for snippets (escape it to show it)."""
    pieces: list[str] = []
    for token in _md.parse(text or ""):
        if token.type in ("fence", "code_block"):
            pieces.append(token.content)
        for child in token.children or []:
            if child.type in ("text", "code_inline"):
                pieces.append(child.content)
            elif child.type == "image":  # its alt text
                pieces.extend(grandchild.content for grandchild in child.children or [])
            elif child.type in ("softbreak", "hardbreak"):
                pieces.append(" ")
        pieces.append(" ")  # between blocks, and between table cells
    return " ".join("".join(pieces).split())
