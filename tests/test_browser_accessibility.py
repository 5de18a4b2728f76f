"""axe-core in a real chromium over the pages a user sees, in the light and the dark theme and the chat at phone size:
no serious or critical violation (colour contrast, names and labels, landmarks, ids, lists, ARIA).

axe is loaded as an init script of the browser context: the pages' CSP (script-src 'self') refuses the inline
<script> that page.add_script_tag writes, and an init script runs outside it, on every page of the context.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory
from django.utils import timezone
from django.views.defaults import page_not_found

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
from tests.live import session_for

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
