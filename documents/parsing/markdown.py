"""Markdown: ATX and setext headings, fenced code kept whole."""

from __future__ import annotations

import re

from documents.parsing.base import LINE_BREAKS, Builder

# --- Markdown -------------------------------------------------------------------------------------------------

# Its closing "#"s are cut off in Python (_atx_title): a lazy title before an optional closing sequence and trailing
# spaces retried both at every character, so a long run of spaces inside a heading line was quadratic.
_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*))?$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NOT_PARAGRAPH = re.compile(r"^(?: {4,}|\t|\s*(?:[-*+>|]|\d+[.)])(?:\s|$))")


def _atx_title(text: str) -> str:
    """An ATX heading's text without its trailing spaces and its closing sequence ("## Title ##"), which only counts
    after a space or a tab."""
    text = text.rstrip(" \t")
    unclosed = text.rstrip("#")
    return unclosed.rstrip(" \t") if unclosed != text and unclosed[-1:] in (" ", "\t") else text


def parse_markdown(text: str, builder: Builder) -> None:
    """Headings (ATX `#` and one-line setext) drive chapter/section; fenced code is body text, never a heading."""
    body: list[str] = []
    fence: str | None = None  # the opening fence while inside a fenced code block

    def heading(level: int, title: str) -> None:
        builder.add("\n".join(body))
        body.clear()
        builder.heading(level, title)

    for line in LINE_BREAKS.sub("\n", text).split("\n"):
        if fence is not None:
            body.append(line)
            stripped = line.strip()
            if stripped.startswith(fence[0]) and set(stripped) == {fence[0]} and len(stripped) >= len(fence):
                fence = None
            continue
        opened = _FENCE_OPEN.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            fence = opened.group(1)
            body.append(line)
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            heading(len(atx.group(1)), _atx_title(atx.group(2) or ""))
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        if (
            underline
            and body
            and body[-1].strip()
            and not _NOT_PARAGRAPH.match(body[-1])
            and (len(body) == 1 or not body[-2].strip())
        ):
            title = body.pop()
            heading(1 if underline.group(1)[0] == "=" else 2, title)
            continue
        body.append(line)
    builder.add("\n".join(body))
