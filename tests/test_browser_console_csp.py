"""No Content Security Policy refusal in the console (style-src 'self' forbids style attributes) through what a
person does: regenerate, switch branches, edit a message, rename a document, open the email page with a change
pending. The edit box and the title box are resized first, as a person dragging their corner does (the browser then
gives them a style attribute), since htmx used to copy that attribute onto the swapped-in replacement."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from playwright.sync_api import expect

from accounts.services import SYSTEM, provider_key_save
from conversations.services import conversation_create
from tests.factories import DocumentFactory, UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
FINISHED_REPLY = ".message-assistant .markdown:not(.streaming-markdown)"
# Every refusal, with what was refused: a console message does not always say which element.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const target = event.target && event.target.outerHTML ? event.target.outerHTML.slice(0, 160) : String(event.target);
  window.cspViolations.push(event.violatedDirective + " " + target);
});
"""


def resize(locator) -> None:
    """What dragging a textarea's corner does: the browser writes the new size into its style attribute (CSSOM,
    which the CSP allows; it is copying the attribute with setAttribute that it refuses)."""
    locator.evaluate("el => { el.style.height = '9rem'; el.style.width = '95%'; }")
    assert locator.get_attribute("style")


def test_no_csp_refusal_when_regenerating_switching_editing_renaming_or_on_the_email_page(
    new_page, live_app, fake_anthropic
):
    fake_anthropic.behaviour.tokens = [" A", " short", " answer."]
    user = UserFactory()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    EmailAddress.objects.create(user=user, email="new-" + user.email, verified=False, primary=False)
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-csp-console-0123456789", client=SYSTEM)
    conversation = conversation_create(user=user, title="CSP")
    document = DocumentFactory(owner=user, title="Notes")
    page = new_page()
    page.context.add_init_script(RECORD_VIOLATIONS)
    refusals = []
    page.on(
        "console",
        lambda message: (
            refusals.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])

    def violations(step: str) -> list[str]:
        """The refusals since the last step, named by this one."""
        found = page.evaluate("window.cspViolations.splice(0)") + refusals
        refusals.clear()
        return [f"{step}: {text}" for text in found]

    found = []
    page.goto(f"/c/{conversation.id}/")
    box = page.get_by_role("textbox", name="Your message")
    box.fill("A first question")
    box.press("Enter")
    page.locator(FINISHED_REPLY, has_text="A short answer.").wait_for()

    # Regenerate, with the edit box of the message above resized.
    user_message = page.locator(".message-user").first
    user_message.get_by_text("Edit", exact=True).click()
    resize(user_message.get_by_role("textbox", name="Edit your message"))
    page.keyboard.press("Escape")
    fake_anthropic.behaviour.tokens = [" Another", " answer."]
    page.get_by_role("button", name="Regenerate").click()
    page.locator(".branch-position", has_text="2/2").wait_for()
    page.locator(FINISHED_REPLY, has_text="Another answer.").wait_for()
    found += violations("regenerate")

    # Switch back to the first version.
    resize(page.locator(".message-user").first.locator("textarea"))
    page.get_by_role("button", name="Previous version").click()
    page.locator(".branch-position", has_text="1/2").wait_for()
    found += violations("branch switch")

    # Edit the message, its box resized, and send it.
    user_message = page.locator(".message-user").first
    user_message.get_by_text("Edit", exact=True).click()
    editor = user_message.get_by_role("textbox", name="Edit your message")
    resize(editor)
    editor.fill("An edited question")
    user_message.get_by_role("button", name="Send edited").click()
    page.locator(".user-text", has_text="An edited question").wait_for()
    page.locator(FINISHED_REPLY).last.wait_for()
    found += violations("edit")

    # Rename a document in place, its title box resized.
    page.goto(f"/documents/{document.id}/")
    page.locator("summary", has_text="Rename").click()
    title_box = page.get_by_label("New title")
    resize(title_box)
    title_box.fill("Meeting notes")
    page.get_by_role("button", name="Save title").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Meeting notes")
    found += violations("document rename")

    # The email page with a change pending: its hidden form for "Re-send verification" is hidden without a style.
    page.goto("/accounts/email/")
    expect(page.get_by_role("button", name="Re-send Verification")).to_be_visible()
    pending = page.locator("form#pending-email")
    expect(pending).to_be_hidden()
    found += violations("email page")

    assert not found, "\n".join(found)
