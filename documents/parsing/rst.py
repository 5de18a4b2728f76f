"""reStructuredText and AsciiDoc: section titles as headings, the markup that is not text left out.

Python projects write their documentation in reStructuredText (Sphinx; Django's sources are .txt files of it), and
read as plain text a page lost its headings, so no passage said which section it came from, and `.. toctree::`
lists of file names and `.. _label:` targets became passages of their own. Not a full reader (docutils would need
every Sphinx extension's directives to be registered): titles, directives and roles, which is what retrieval needs.
"""

from __future__ import annotations

import itertools
import re

from documents.parsing.base import LINE_BREAKS, Builder

# --- reStructuredText -------------------------------------------------------------------------------------------

# A title's adornment: one punctuation character repeated (docutils' list), nothing else on the line.
_ADORNMENT = re.compile(r"^([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])\1{2,}[ \t]*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.[ \t]+([\w:.+-]+)::(?:[ \t]+(.*))?$")
_TARGET_OR_COMMENT = re.compile(r"^\s*\.\.(?:[ \t]|$)")
# Directives whose block is no text for a reader: lists of files, index entries, page metadata, build switches.
_DROPPED_BLOCKS = {"toctree", "index", "meta", "include", "raw", "only", "ifconfig", "highlight", "tabularcolumns",
                   "currentmodule", "module", "default-role", "autosummary", "contents", "sectionauthor",
                   "moduleauthor", "codeauthor", "image", "figure", "literalinclude", "testsetup",
                   "testcleanup"}  # fmt: skip
_LABELS = {"note": "Note", "warning": "Warning", "tip": "Tip", "important": "Important", "caution": "Caution",
           "danger": "Danger", "attention": "Attention", "hint": "Hint", "error": "Error", "seealso": "See also",
           "todo": "To do", "versionadded": "New in version", "versionchanged": "Changed in version",
           "deprecated": "Deprecated since version", "versionremoved": "Removed in version"}  # fmt: skip
_OPTION = re.compile(r"^\s+:[\w-]+:(?:\s|$)")
_CODE = {"code", "code-block", "sourcecode", "doctest", "testcode", "testoutput", "parsed-literal", "productionlist"}
# :role:`text <target>` and :role:`target` become their text; `text <url>`_ its text; ``literal`` stays as it is.
# Bounded and unambiguous (no two quantifiers that can take the same characters): a hostile run of colons or spaces
# must not make these quadratic.
_ROLE = re.compile(r":[\w:.+-]{1,60}:`([^`]*)`")
_LINK = re.compile(r"`([^`<]*)<[^`>]*>`__?")
# Left in passages (it marks code), taken out of titles. An opening that nothing closes on its line takes the rest
# of the line as it is (the second branch): no later "``" there can be closed either, and tried again from each
# of them, a title of many unclosed "``x " was quadratic.
_LITERAL = re.compile(r"``(?:(\S(?:.*?\S)?)``|(?=\S).*)")


def _without_literals(text: str) -> str:
    return _LITERAL.sub(lambda literal: literal.group(0) if literal.group(1) is None else literal.group(1), text)


def _role_text(match: re.Match) -> str:
    """:role:`title <target>` is its title, :role:`~module.name` its name."""
    text = match.group(1)
    opening = text.rfind("<")
    if text.endswith(">") and opening > 0 and text[:opening].strip():
        text = text[:opening].rstrip()
    return text.lstrip("~!")


def _inline(line: str) -> str:
    return _LINK.sub(lambda link: link.group(1).rstrip(), _ROLE.sub(_role_text, line))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _underlined(line: str, following: str) -> re.Match | None:
    """The adornment under `line` when `line` can be a title's text: not indented, not an adornment itself."""
    if not line.strip() or _indent(line) or _ADORNMENT.match(line):
        return None
    return _ADORNMENT.match(following)


def parse_rst(text: str, builder: Builder) -> None:
    """Titles (underlined, or over- and underlined) drive chapter/section, levels in the order their styles first
    appear, as docutils assigns them; directives become their text, the blocks of a dropped one go."""
    lines = LINE_BREAKS.sub("\n", text).split("\n")
    styles: list[tuple[str, bool]] = []
    body: list[str] = []
    skip_below: int | None = None  # inside a dropped block: the indentation its lines are deeper than

    def heading(style: tuple[str, bool], title: str) -> None:
        if style not in styles:
            styles.append(style)
        builder.add(_inline("\n".join(body)))  # a role or a link may run over lines
        body.clear()
        builder.heading(styles.index(style) + 1, _without_literals(_inline(title.strip())))

    def blank_before(index: int) -> bool:
        return index == 0 or not lines[index - 1].strip()

    index = 0
    while index < len(lines):
        line = lines[index]
        if skip_below is not None:
            if not line.strip() or _indent(line) > skip_below:
                index += 1
                continue
            skip_below = None
        following = lines[index + 1] if index + 1 < len(lines) else ""
        after = lines[index + 2] if index + 2 < len(lines) else ""
        over = _ADORNMENT.match(line)
        # Over- and underlined: the same character, and the title between them at most as long as they are.
        if over and following.strip() and not _ADORNMENT.match(following) and blank_before(index):
            under = _ADORNMENT.match(after)
            if under and under.group(1) == over.group(1) and len(following.rstrip()) <= len(line.rstrip()) + 1:
                heading((over.group(1), True), following)
                index += 3
                continue
        under = _underlined(line, following)
        if under and blank_before(index) and len(following.rstrip()) >= min(len(line.rstrip()), 4):
            heading((under.group(1), False), line)
            index += 2
            continue
        directive = _DIRECTIVE.match(line)
        if directive:
            indent, name, argument = directive.group(1), directive.group(2).split(":")[-1], directive.group(3) or ""
            if name in _DROPPED_BLOCKS:
                skip_below = len(indent)
            elif name in _LABELS:
                label = _LABELS[name]
                joiner = " " if label.endswith("version") else ": "
                body.append(indent + (f"{label}{joiner}{_inline(argument)}" if argument else f"{label}:"))
            elif name not in _CODE and argument and not _title_follows(lines, index + 1):
                # A function's signature, an option, a class; not a marker that only names the title after it
                # (Django's ".. setting:: DEBUG" above "DEBUG\n-----").
                body.append(indent + _inline(argument))
            index += 1
            # A code directive's options (":linenos:") are not text; other directives' fields (":param x:") are.
            while name in _CODE and index < len(lines) and _OPTION.match(lines[index]):
                index += 1
            continue
        if _TARGET_OR_COMMENT.match(line):
            skip_below = _indent(line)  # a target (".. _label:"), a substitution, a footnote's or a comment's block
            index += 1
            continue
        body.append(line)
        index += 1
    builder.add(_inline("\n".join(body)))


# What only reStructuredText writes: a directive, a target or a comment; a role; an inline literal.
_RST_MARKUP = re.compile(r"^\.\.[ \t]+\S|:[\w:.+-]{1,60}:`[^`\n]|``[^`\s]", re.MULTILINE)


def _title_follows(lines: list[str], index: int) -> bool:
    """Whether the next line with text, from `index`, starts a section title (over- or underlined)."""
    while index < len(lines) and not lines[index].strip():
        index += 1
    if index + 1 >= len(lines) or _indent(lines[index]):
        return False
    return bool(_ADORNMENT.match(lines[index]) or _ADORNMENT.match(lines[index + 1]))


def looks_like_rst(text: str) -> bool:
    """Text written in reStructuredText (a .txt file of Sphinx sources): its markup and an underlined title, or
    without markup, two titles underlined to their length (a plain README's "Install\n=======" is read the same)."""
    head = text[:65536]
    lines = LINE_BREAKS.sub("\n", head).split("\n")
    titles = [
        (len(line.rstrip()), len(following.rstrip()))
        for line, following in itertools.pairwise(lines)
        if _underlined(line, following)
    ]
    if _RST_MARKUP.search(head):
        return bool(titles)
    return sum(1 for title, adornment in titles if title <= adornment <= title + 3) >= 2


# --- AsciiDoc ---------------------------------------------------------------------------------------------------

_ADOC_TITLE = re.compile(r"^(={1,6}|#{1,6})[ \t]+(\S.*)$")  # a closing "==" is cut off in Python: no backtracking
_ADOC_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|={4,}|\*{4,}|\+{4,}|_{4,}|/{4,}|`{3,})[ \t]*$")
_ADOC_ATTRIBUTE = re.compile(r"^(?::[\w-]+!?:.*|\[[^\]]*\]|//(?!/).*)$")


def parse_asciidoc(text: str, builder: Builder) -> None:
    """`= Title` to `====== Title` drive chapter/section; delimited blocks (listings, examples) are body text, and
    attribute entries, block attributes and comments are no text."""
    body: list[str] = []
    delimiter: str | None = None
    for line in LINE_BREAKS.sub("\n", text).split("\n"):
        fence = _ADOC_DELIMITER.match(line)
        if delimiter is not None:  # inside a listing, an example...: text as it is, a comment block none
            if fence and fence.group(1) == delimiter:
                delimiter = None
            elif not delimiter.startswith("/"):
                body.append(line)
            continue
        if fence:
            delimiter = fence.group(1)
            continue
        title = _ADOC_TITLE.match(line)
        if title:
            builder.add("\n".join(body))
            body.clear()
            marks, title_text = title.group(1), title.group(2).rstrip()
            if title_text.endswith(" " + marks) or title_text.endswith("\t" + marks):
                title_text = title_text[: -len(marks)].rstrip()
            builder.heading(max(len(marks) - 1, 1), title_text)
            continue
        if _ADOC_ATTRIBUTE.match(line.strip()):
            continue
        body.append(line)
    builder.add("\n".join(body))
