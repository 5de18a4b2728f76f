"""Text entering the app from outside (forms, model output, parsed files, imports), made safe to store and show.

PostgreSQL cannot store a NUL in a text column, and a lone surrogate (valid in a Python str, e.g. from JSON's
"\\ud800") cannot be encoded as UTF-8: either one makes the INSERT fail. Other C0 control characters are never
meaningful in chat or document text, and a bare carriage return is a line break to browsers but not to Markdown.
Every boundary where outside text enters calls `clean_text`, so nothing later has to worry about it.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls but tab and newline, DEL, and UTF-16 surrogates (lone ones reach us from JSON escapes); and the
# bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): invisible, they reverse what
# follows them, so "Teapots \u202eexe.txt" reads "Teapots txt.exe" and the reversal ran on into the text shown
# after a name ("relevance 0.70" read backwards). Right-to-left text needs none of them; the plain marks (U+200E,
# U+200F, U+061C) are kept.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"\r\n?")


def clean_text(text: str) -> str:
    """`text` with CRLF and lone CR as LF, and NUL, other control characters, bidirectional overrides and lone
    surrogates removed."""
    if not text:
        return text
    if "\r" in text:
        text = _LINE_BREAKS.sub("\n", text)
    return _UNSAFE.sub("", text)


def has_unsafe_characters(text: str) -> bool:
    """Whether `clean_text` would change `text` beyond its line breaks."""
    return bool(_UNSAFE.search(text))


def clean_json(value, *, depth: int = 0):
    """`value` (decoded JSON) with every string, keys included, cleaned: jsonb refuses "\\u0000" as text does.

    Nesting deeper than 64 levels is cut off (replaced by None) rather than walked: the values cleaned here come
    from providers and our own metadata, where anything that deep is hostile.
    """
    if isinstance(value, str):
        return clean_text(value)
    if depth >= 64:
        return None
    if isinstance(value, dict):
        return {clean_text(str(key)): clean_json(item, depth=depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(item, depth=depth + 1) for item in value]
    return value


def strip_unsafe(text: str) -> str:
    """`text` without NUL, control characters and lone surrogates, line breaks kept as they are.

    For a stream's pieces: a CRLF may arrive split across two of them, so line breaks are normalised only once the
    whole text is known (`clean_text`); a lone CR on the way is harmless, since the SSE framing splits on it.
    """
    return _UNSAFE.sub("", text) if text else text


# Letters that draw nothing: Hangul fillers and the blank Braille pattern (others invisible are format characters).
_BLANK_LETTERS = {"\u115f", "\u1160", "\u3164", "\uffa0", "\u2800"}


def has_visible_text(text: str) -> bool:
    """Whether `text` shows anything: not only spaces, line breaks, zero-width and other format characters."""
    return any(
        not char.isspace() and char not in _BLANK_LETTERS and unicodedata.category(char) not in {"Cf", "Cc", "Zs"}
        for char in text
    )


def after_colon(head: str, sentence: str) -> str:
    """`head: sentence`, the sentence going on in lower case after the colon, as the app's own "name: the file is
    empty." does ("This file type…" read as a second sentence): a file's name, "Nothing was imported". A word in
    capitals (PDF, RTF, ZIP) stays so."""
    first = sentence.split(" ", 1)[0]
    if first[:1].isupper() and not first[1:2].isupper():
        sentence = sentence[:1].lower() + sentence[1:]
    return f"{head}: {sentence}"


def title_too_long(title: str, *, limit: int) -> str | None:
    """Why a title is refused for its length (refused, never cut: a cut title says something else), or None."""
    if len(title) <= limit:
        return None
    return f"A title can be {limit} characters long at most; this one has {len(title):,}."
