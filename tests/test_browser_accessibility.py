"""axe-core in a real chromium over the pages a user sees, in the light and the dark theme and the chat at phone size:
no serious or critical violation (colour contrast, names and labels, landmarks, ids, lists, ARIA). The chat's moving
states (a reply thinking, streaming, stopped, waiting for a tool's approval; answers side by side), a guest's pages and
the forms refusing what was sent: no violation at all, and the keyboard reaches their controls with a focus ring seen.

axe is loaded as an init script of the browser context: the pages' CSP (script-src 'self') refuses the inline
<script> that page.add_script_tag writes, and an init script runs outside it, on every page of the context.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone
from django.views.defaults import page_not_found
from playwright.sync_api import expect

from accounts.models import Preferences, User
from accounts.services import SYSTEM, preferences_get, provider_key_save
from conversations.models import Conversation
from conversations.services import conversation_create
from tests.factories import (
    ChunkFactory,
    DocumentFactory,
    DocumentVersionFactory,
    MessageFactory,
    ProjectFactory,
    ToolExecutionFactory,
    UsageLogFactory,
    UserFactory,
)
from tests.live import scrolls_sideways, session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
# axe-core from npm (https://github.com/dequelabs/axe-core), MPL-2.0: the licence header is kept in the file.
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
SERIOUS = ("serious", "critical")
# The page's background in each theme (app.css --bg): the audit must not check the light theme twice.
BACKGROUND = {"light": "rgb(255, 255, 255)", "dark": "rgb(17, 20, 24)"}
PASSAGE = "Water in the morning, at the roots."
# A finished reply with what a reply can show: a cited source, a highlighted code block (its colours are checked
# too), a table, a link.
REPLY = """Water in the morning [1], about **half a litre** a day ([more](https://example.com/tomatoes)).

```python
def water_needed(days):
    # litres per plant
    return days * 0.36
```

| Day | Litres |
| --- | --- |
| 1 | 0.36 |
"""


def a_user_with_some_data():
    user = UserFactory(display_name="Ada Lovelace")
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-accessibility-01", client=SYSTEM)
    document = DocumentFactory(owner=user, title="Tomato growing guide")
    DocumentVersionFactory(document=document, content=f"{PASSAGE}\n\nMulch keeps the soil moist.")
    chunk = ChunkFactory(document=document, text=PASSAGE, chapter="Watering")
    project = ProjectFactory(user=user, name="Garden")
    MessageFactory(conversation=conversation_create(user=user, title="Raised beds", project_id=project.id))
    archived = conversation_create(user=user, title="Old seed order")
    Conversation.objects.filter(id=archived.id).update(archived_at=timezone.now())

    chat = conversation_create(user=user, title="Watering tomatoes")
    question = MessageFactory(conversation=chat, content="How much water do tomatoes need?")
    source = {"n": 1, "chunk_id": str(chunk.id), "title": document.title, "chapter": "Watering", "section": "",
              "text": PASSAGE, "score": 0.71}  # fmt: skip
    reply = MessageFactory(
        conversation=chat, role="assistant", parent=question, content=REPLY, model="claude-sonnet-5-5",
        parts=[{"type": "thinking", "text": "Tomatoes, watering."}, {"type": "text", "text": REPLY}],
        metadata={"sources": [source]},
    )  # fmt: skip
    ToolExecutionFactory(message=reply, status="completed", result={"passages": 1})
    UsageLogFactory(conversation=chat, user=user)
    Conversation.objects.filter(id=chat.id).update(visibility=Conversation.Visibility.PUBLIC, active_leaf=reply)
    return user, chat, project, document


def not_found_page() -> str:
    """The 404 page production shows: the live app runs with DEBUG on, and answers with Django's technical page."""
    request = RequestFactory().get("/no-such-page/")
    request.user = AnonymousUser()
    return page_not_found(request, Http404()).content.decode()


def serious_violations(page, theme: str) -> list[str]:
    page.wait_for_load_state("load")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == BACKGROUND[theme], page.url
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        f"{theme} {page.url}: {v['id']} ({v['impact']}) {v['help']}: {[node['target'] for node in v['nodes']]}"
        for v in violations
        if v["impact"] in SERIOUS
    ]


def test_the_main_pages_have_no_serious_axe_violations_in_either_theme(new_page, live_app):
    user, chat, project, document = a_user_with_some_data()
    signed_out = ["/accounts/login/", "/accounts/signup/", "/not-found/", f"/c/shared/{chat.id}/"]
    signed_in = [
        "/c/",
        f"/c/{chat.id}/",
        "/c/search/?q=watering",
        "/c/archived/",
        "/c/projects/",
        f"/c/projects/{project.id}/",
        "/documents/",
        f"/documents/{document.id}/",
        "/settings/",
        "/settings/keys/",
        "/settings/usage/",
    ]
    page = new_page()
    page.context.add_init_script(path=str(AXE))
    not_found = not_found_page()  # served at /not-found/ by the browser itself, its CSS and scripts by the app
    page.route(f"{live_app.url}/not-found/", lambda route: route.fulfill(status=404, body=not_found))
    found = []
    for theme in ("light", "dark"):
        # Signed out, the page follows the system's scheme, unless this browser kept an earlier choice.
        page.context.clear_cookies()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.emulate_media(color_scheme=theme)
        page.goto("/accounts/login/")
        page.evaluate("localStorage.clear()")
        for path in signed_out:
            page.goto(path)
            found += serious_violations(page, theme)

        # Signed in, the server renders the user's saved theme.
        preferences = preferences_get(user=user)
        preferences.theme = theme
        preferences.save(update_fields=["theme"])
        page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
        for path in signed_in:
            page.goto(path)
            found += serious_violations(page, theme)

        # The chat on a phone, its conversations drawer open.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"/c/{chat.id}/")
        found += serious_violations(page, theme)
        page.locator("[data-drawer-toggle]").first.click()
        page.locator("#chat-sidebar[data-open]").wait_for()
        page.wait_for_function("() => document.getElementById('chat-sidebar').getAnimations().length === 0")
        found += serious_violations(page, theme)

    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)


# Every id an ARIA relation or a label names is on the page (a field's aria-describedby naming its error, say).
MISSING_IDREFS = """() => {
  const missing = [];
  for (const attribute of ['aria-describedby', 'aria-labelledby', 'aria-controls', 'for']) {
    for (const element of document.querySelectorAll(attribute === 'for' ? 'label[for]' : `[${attribute}]`)) {
      for (const id of element.getAttribute(attribute).split(/\\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) missing.push(`${attribute}=${id} on <${element.tagName.toLowerCase()}>`);
      }
    }
  }
  return missing;
}"""
# The focused element and what is wrong with its focus ring, if anything: none drawn, thinner than 2px, or cut by
# the window or by a box that clips what overflows it (the thread, a column).
FOCUSED = """() => {
  const element = document.activeElement;
  const label = (element.getAttribute('aria-label') || element.innerText || element.name || element.tagName)
    .trim().split('\\n')[0].slice(0, 40);
  const style = getComputedStyle(element);
  if (!element.matches(':focus-visible') || style.outlineStyle === 'none' || parseFloat(style.outlineWidth) < 2) {
    return [label, 'no focus ring'];
  }
  const grow = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) - 0.5;
  const box = element.getBoundingClientRect();
  const ring = {top: box.top - grow, left: box.left - grow, bottom: box.bottom + grow, right: box.right + grow};
  if (ring.top < 0 || ring.left < 0 || ring.bottom > innerHeight || ring.right > innerWidth) {
    return [label, 'ring off screen'];
  }
  for (let parent = element.parentElement; parent && parent !== document.body; parent = parent.parentElement) {
    const overflow = getComputedStyle(parent);
    if (overflow.overflowX === 'visible' && overflow.overflowY === 'visible') continue;
    const clip = parent.getBoundingClientRect();
    const top = clip.top + parent.clientTop, left = clip.left + parent.clientLeft;
    if (ring.top < top || ring.left < left || ring.bottom > top + parent.clientHeight
        || ring.right > left + parent.clientWidth) {
      return [label, `ring cut by <${parent.tagName.toLowerCase()} class="${parent.className}">`];
    }
  }
  return [label, ''];
}"""
# A reply that cannot finish while it is looked at (it is stopped), and side-by-side answers that end in seconds.
LONG = [f" word{number}" for number in range(300)]
SHORT = " ".join(f"tide{number}" for number in range(40)) + " THE END"


def violations(page, state: str) -> list[str]:
    """Every axe violation, whatever its impact, in both themes (switched in place: a streaming reply stays as it is),
    and the ARIA relations naming no element."""
    found = [f"{state}: {missing}" for missing in page.evaluate(MISSING_IDREFS)]
    for theme in ("light", "dark"):
        page.evaluate("theme => { document.documentElement.dataset.theme = theme; }", theme)
        # Waited for, not read once: a page that has just opened (a new chat's own, after its first message) may not
        # have its stylesheet applied yet, and its body then reads as transparent for a moment.
        page.wait_for_function(
            "background => getComputedStyle(document.body).backgroundColor === background", arg=BACKGROUND[theme]
        )
        results = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
        found += [
            f"{theme} {state}: {v['id']} ({v['impact']}) {v['help']}: {[node['target'] for node in v['nodes']]}"
            for v in results
        ]
    return found


def tab_from_the_top(page, until: str, count: int = 1) -> list[tuple[str, str]]:
    """Tab from the skip link until `count` controls named `until` had the focus: each control reached, with what is
    wrong with its focus ring."""
    page.locator(".skip-link").focus()
    reached = []
    for _ in range(80):
        page.keyboard.press("Tab")
        reached.append(tuple(page.evaluate(FOCUSED)))
        if [label for label, _ in reached].count(until) == count:
            return reached
    raise AssertionError(f"Tab never reached {until!r} {count} times: {[label for label, _ in reached]}")


def test_the_chat_while_it_streams_side_by_side_answers_a_guests_pages_and_refused_forms(
    new_page, live_app, fake_anthropic, fake_openai
):
    page = new_page()
    page.context.add_init_script(path=str(AXE))
    found, focus = [], []

    # A guest: the home page's offer, the empty chat with its sign-up prompt, the offline assistant's answer,
    # the settings, and the daily limit reached.
    page.goto("/")
    found += violations(page, "home, signed out")
    page.get_by_role("button", name="Try it as a guest").click()
    page.wait_for_url("**/c/")
    found += violations(page, "guest, new chat")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("What do tomatoes need?")
    box.press("Enter")
    expect(page.locator(".message-assistant")).to_contain_text("Sign up")
    found += violations(page, "guest, offline answer")
    page.goto("/settings/")
    found += violations(page, "guest, settings")
    today = timezone.now().astimezone(dt.UTC).date()
    User.objects.filter(is_guest=True).update(daily_message_count=10_000, daily_message_reset_on=today)
    page.goto("/c/")
    box.fill("One more question")
    box.press("Enter")
    expect(page.locator("#composer-error")).to_contain_text("messages for today")
    found += violations(page, "guest, limit reached")
    page.context.clear_cookies()

    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-accessibility-02", client=SYSTEM)
    for provider in ("openai", "xai"):
        provider_key_save(user=user, provider=provider, api_key=f"key-{provider}-0123456789-abcd", client=SYSTEM)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    chat = conversation_create(user=user, title="Tomatoes")
    page.goto(f"/c/{chat.id}/")
    page.get_by_role("combobox", name="Model", exact=True).select_option("anthropic:claude-sonnet-5-5")

    # The composer refusing a message over the limit.
    box.fill("x" * 20_500)
    expect(page.locator("#composer-error")).to_contain_text("too long")
    found += violations(page, "composer, message too long")
    box.fill("")

    # A reply: thinking, then streaming (Stop reached by keyboard, in the reply and in the composer), then stopped.
    fake_anthropic.behaviour.first_token_delay = 2.5  # the two audits of "Thinking…" before the first word
    fake_anthropic.behaviour.token_delay = 0.1
    fake_anthropic.behaviour.tokens = LONG
    box.fill("Tell me everything about tomatoes")
    box.press("Enter")
    streaming = page.locator(".message[data-streaming]")
    expect(streaming.get_by_text("Thinking…")).to_be_visible()
    found += violations(page, "reply thinking")
    expect(streaming.locator(".streaming-markdown")).to_contain_text("word3")
    found += violations(page, "reply streaming")
    focus += tab_from_the_top(page, until="Stop", count=2)
    page.locator("[data-composer-stop]").click()
    expect(page.locator(".message-cancelled")).to_be_visible()
    found += violations(page, "reply stopped")

    # A tool call waiting for the user: its card's three buttons reached in order.
    fake_anthropic.reset()
    fake_anthropic.tool_script[:] = [
        {"text": "I will write it down.",
         "calls": [{"name": "create_document", "input": {"title": "Groceries", "content": "- eggs"}}]},
        {"text": "Not saved."},
    ]  # fmt: skip
    box.fill("Keep my grocery list")
    box.press("Enter")
    card = page.locator(".tool-card-pending")
    expect(card).to_be_visible(timeout=30_000)
    found += violations(page, "tool call waiting for approval")
    reached = tab_from_the_top(page, until="Deny")
    assert [label for label, _ in reached[-3:]] == ["Approve", "Approve always for this tool", "Deny"]
    focus += reached
    page.keyboard.press("Enter")  # Deny
    expect(page.locator(".message[data-streaming]")).to_have_count(0, timeout=20_000)

    # Three answers side by side: the picker open, the columns streaming, then done (each Continue reached by
    # keyboard, in the columns' order), and stacked on a phone.
    Preferences.objects.filter(user=user).update(multi_model_enabled=True)
    fake_openai.behaviour.reply = SHORT
    fake_openai.behaviour.token_delay = 0.1  # about four seconds: two audits while all three stream
    fake_anthropic.behaviour.reply = SHORT
    fake_anthropic.behaviour.token_delay = 0.1
    page.goto("/c/")
    page.get_by_role("combobox", name="Model", exact=True).select_option("openai:gpt-4.1")
    page.get_by_text("Compare with…").click()
    page.get_by_role("combobox", name="Second model").select_option("xai:grok-4")
    page.get_by_role("combobox", name="Third model").select_option("anthropic:claude-sonnet-5-5")
    found += violations(page, "compare picker open")
    box.fill("Tell me about the tides")
    box.press("Enter")
    page.wait_for_url("**/c/*-*/")
    expect(page.locator(".compare-column .message[data-streaming]")).to_have_count(3)
    found += violations(page, "three answers streaming")
    expect(page.locator(".message[data-streaming]")).to_have_count(0, timeout=20_000)
    found += violations(page, "three answers done")
    reached = tab_from_the_top(page, until="Continue with this answer", count=3)
    columns = [label for label, _ in reached if label == "Continue with this answer"]
    assert len(columns) == 3
    focus += reached
    page.set_viewport_size({"width": 390, "height": 844})
    found += violations(page, "three answers done, phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The keys page refusing a key, the documents page refusing a file.
    page.goto("/settings/keys/")
    page.get_by_label("API key").fill("abc")
    page.get_by_role("button", name="Save key").click()
    expect(page.locator(".field.has-error .error")).to_contain_text("does not look like an API key")
    found += violations(page, "keys, key refused")
    page.goto("/documents/")
    png = b"\x89PNG\r\n\x1a\n" + bytes(64)
    page.get_by_label("or choose them").set_input_files([{"name": "photo.png", "mimeType": "image/png", "buffer": png}])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator(".flash-error")).to_contain_text("photo.png")
    found += violations(page, "documents, upload refused")

    found += [f"focus ring on {label!r}: {problem}" for label, problem in focus if problem]
    assert not found, "accessibility problems:\n" + "\n".join(found)


PHONE = {"width": 390, "height": 844}
# A settings section the keyboard reaches is in the row's first 85%, where the row does not fade out (app.css's mask).
SECTION_SHOWN = """() => {
  const link = document.activeElement;
  if (!link.matches('.settings-nav a')) return true;
  const box = link.getBoundingClientRect(), row = link.closest('ul').getBoundingClientRect();
  return box.left >= row.left - 0.5 && box.right <= row.left + 0.85 * row.width + 0.5;
}"""


def tab_through(page) -> list[tuple[str, str]]:
    """Tab from the skip link past the page's last control: each control reached, with what is wrong with its focus
    ring (and a settings section left under the row's fading edge)."""
    page.locator(".skip-link").focus()
    reached = []
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body || document.activeElement.matches('.skip-link')"):
            return reached
        label, problem = page.evaluate(FOCUSED)
        if not page.evaluate(SECTION_SHOWN):
            problem = problem or "under the row's fading edge"
        reached.append((f"{page.url} {label}", problem))
    raise AssertionError(f"Tab never left {page.url}")


def test_a_phone_two_approval_cards_usage_a_project_a_failed_document_the_drawer_and_every_focus_ring(
    new_page, live_app, fake_anthropic
):
    """At 390x844, in both themes: no axe violation whatever its impact in the states the other tests leave out (two
    calls waiting for approval at once, the usage page with data, a project with its chats and documents, the documents
    list with a failed document, the compare picker, the drawer with a chat's menu open), and every control the keyboard
    reaches on the settings, the keys page, a new chat and the approval cards shows its whole focus ring."""
    user, chat, project, document = a_user_with_some_data()
    Preferences.objects.filter(user=user).update(multi_model_enabled=True)
    failed = DocumentFactory(owner=user, title="Scanned receipts", status="failed", error="No text could be read.")
    project.documents.add(document, failed)
    for days_ago in (1, 3, 8):
        UsageLogFactory(conversation=chat, user=user, created_at=timezone.now() - dt.timedelta(days=days_ago))
    page = new_page()
    page.context.add_init_script(path=str(AXE))
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.set_viewport_size(PHONE)
    found, focus = [], []

    # The usage page on a phone (its charts fit the screen; a table that scrolls sideways must be reachable).
    for path, state in [
        ("/settings/usage/", "usage with data"),
        (f"/c/projects/{project.id}/", "a project with chats and documents"),
        ("/documents/", "documents with a failed one"),
    ]:
        page.goto(path)
        page.wait_for_load_state("load")
        found += violations(page, f"{state}, phone")

    # The settings sections (a row scrolling sideways), the bottom of the keys page, the starter prompts.
    for path in ("/settings/", "/settings/keys/", "/c/"):
        page.goto(path)
        page.wait_for_load_state("load")
        focus += tab_through(page)

    # "Compare with…" opened from the keyboard: its selects were wider than the screen.
    page.get_by_text("Compare with…").focus()
    page.keyboard.press("Enter")
    found += violations(page, "compare picker open, phone")
    for _ in range(2):
        page.keyboard.press("Tab")
        focus.append(tuple(page.evaluate(FOCUSED)))
    assert [label for label, _ in focus[-2:]] == ["None", "None"], focus[-2:]
    assert not scrolls_sideways(page)

    # The conversations drawer with a chat's menu open.
    page.goto(f"/c/{chat.id}/")
    page.wait_for_load_state("load")
    page.locator("[data-drawer-toggle]").focus()
    page.keyboard.press("Enter")
    page.locator("#chat-sidebar[data-open]").wait_for()
    page.wait_for_function("() => document.getElementById('chat-sidebar').getAnimations().length === 0")
    page.locator("#chat-sidebar .item-menu > summary").first.focus()
    page.keyboard.press("Enter")
    found += violations(page, "drawer and a chat's menu open, phone")

    # One reply waiting for two calls of the same tool: each card was a region of the same name.
    fake_anthropic.tool_script[:] = [
        {"text": "I will write both down.",
         "calls": [{"name": "create_document", "input": {"title": "Groceries", "content": "- eggs"}},
                   {"name": "create_document", "input": {"title": "Chores", "content": "- dishes"}}]},
        {"text": "Not saved."},
    ]  # fmt: skip
    page.goto("/c/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("Keep my two lists")
    box.press("Enter")
    page.wait_for_url(f"{live_app.url}/c/*/")  # the new chat's own page, where the cards come
    page.wait_for_load_state("load")
    expect(page.locator(".tool-card-pending")).to_have_count(2, timeout=30_000)
    found += violations(page, "two tool calls waiting for approval, phone")
    focus += tab_from_the_top(page, until="Approve", count=2)

    found += [f"focus ring on {label!r}: {problem}" for label, problem in focus if problem]
    assert not found, "accessibility problems:\n" + "\n".join(found)
