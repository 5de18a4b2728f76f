from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache

from django import template
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from chatbot.llm.offline import without_advice
from chatbot.markdown import render_markdown
from conversations.models import ChatProvider
from documents.locations import passage_place

register = template.Library()


@lru_cache(maxsize=4096)
def _rendered(key: tuple, content: str) -> str:
    return render_markdown(content)


_CITATION = re.compile(r"\[(\d{1,2})\]")
# What is not a text node to rewrite: code (inline and blocks), links (a citation link inside a link would nest
# anchors), and every other tag, whose attribute values (always double-quoted in the sanitiser's output) may hold
# "[1]" or ">".
_NOT_TEXT = re.compile(
    r"""(<pre\b.*?</pre>|<code\b.*?</code>|<a\b.*?</a>|<(?:[^>"']|"[^"]*"|'[^']*')*>)""",
    re.S,
)


def link_citations(html: str, message_id, numbers: set[int]) -> str:
    """Turn [n] in the text into a link to source n below the reply (not in code, links or attributes), only
    for sources that exist."""

    def replace(match: re.Match) -> str:
        number = int(match.group(1))
        if number not in numbers:
            return match.group(0)
        return (
            f'<sup class="citation"><a href="#source-{message_id}-{number}" data-citation '
            f'aria-label="Source {number}">[{number}]</a></sup>'
        )

    parts = _NOT_TEXT.split(html)
    return "".join(part if index % 2 else _CITATION.sub(replace, part) for index, part in enumerate(parts))


def cited_numbers(html: str) -> set[int]:
    """The n of every [n] in the text (not in code, links or attributes): the markers link_citations links."""
    parts = _NOT_TEXT.split(html)
    return {int(number) for index, part in enumerate(parts) if not index % 2 for number in _CITATION.findall(part)}


@register.filter
def markdown(message) -> SafeString:
    """A message's content as sanitised HTML; cached per (message, last change) since it is the hot path."""
    return message_markdown(message, message.content)


@register.filter
def shared_markdown(message) -> SafeString:
    """A message's content for the shared page's reader: an offline reply without its advice to the owner."""
    if message.provider == ChatProvider.OFFLINE:
        return message_markdown(message, without_advice(message.content))
    return message_markdown(message, message.content)


def message_markdown(message, text: str) -> SafeString:
    """Text of a message (its content, or one part of it between tool calls) as sanitised HTML, its [n] linked to
    the message's sources."""
    html = _rendered((message.id, message.updated_at), text)
    sources = (message.metadata or {}).get("sources") or []
    if sources:
        html = link_citations(html, message.id, {source.get("n") for source in sources})
    return mark_safe(html)  # noqa: S308 - sanitised by nh3; the citation markup is ours


@register.filter
def shown_sources(message) -> list[dict]:
    """The sources listed under a reply, each with its number n as the reply's [n] markers have it.

    A reply that cites some lists those only. One that cites none lists every source it was given if it finished
    (it answered from them), and none if it was stopped or failed (it did not get as far as using them). Sources
    saved before they were numbered are numbered by their place, as they were listed.
    """
    sources = [
        {**source, "n": source.get("n") or place}
        for place, source in enumerate((message.metadata or {}).get("sources") or [], start=1)
        if isinstance(source, dict)
    ]
    if not sources:
        return []
    cited = cited_numbers(_rendered((message.id, message.updated_at), message.content)) if message.content else set()
    cited &= {source["n"] for source in sources}
    if cited:
        return [source for source in sources if source["n"] in cited]
    return sources if message.status == "complete" else []


@register.filter
def source_place(source: dict) -> list[str]:
    """A source's chapter and section, without repeating its document's title or each other."""
    return passage_place(
        chapter=source.get("chapter") or "", section=source.get("section") or "", under=source.get("title") or ""
    )


@register.filter
def chunk_place(chunk) -> list[str]:
    """A passage's chapter and section, without repeating its document's title (its page's heading)."""
    return passage_place(chapter=chunk.chapter, section=chunk.section, under=chunk.document.title)


@register.filter
def get_item(mapping: dict, key):
    return mapping.get(key) if mapping else None


@register.simple_tag(takes_context=True)
def stream_events_url(context, stream_id) -> str:
    """A reply's event stream URL, signed for the viewer's session when there is one: the signed URL is relayed
    without Django's request cycle (conversations/stream_access.py); unsigned, the view checks the owner."""
    from urllib.parse import urlencode

    from django.urls import reverse

    from conversations.stream_access import stream_token

    url = reverse("conversations:stream_events", args=[stream_id])
    session_key = getattr(getattr(context.get("request"), "session", None), "session_key", None)
    if session_key:
        url += "?" + urlencode({"t": stream_token(stream_id=stream_id, session_key=session_key)})
    return url


@register.simple_tag
def message_time(moment: dt.datetime) -> SafeString:
    """When a message was written, as a <time>: its machine-readable instant (UTC, to the second: HTML's datetime
    allows three decimals at most), the full date and time in its title, and a short text: the time alone on the
    day it is shown, the day and month before it otherwise, the year too before this year.

    The server renders it in TIME_ZONE, which is not the user's (the app does not know theirs); app.js writes the
    text and the title again in the browser's own time zone and language with Intl, from `datetime`.
    """
    local = timezone.localtime(moment)
    today = timezone.localdate()
    if local.date() == today:
        short = formats.time_format(local, "H:i")
    elif local.year == today.year:
        short = formats.date_format(local, "j M, H:i")
    else:
        short = formats.date_format(local, "j M Y, H:i")
    instant = moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    full = formats.date_format(local, "l j F Y, H:i T")
    return format_html(
        '<time class="message-time" datetime="{}" title="{}" data-local-time>{}</time>', instant, full, short
    )
