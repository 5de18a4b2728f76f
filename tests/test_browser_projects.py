"""Projects in a real chromium (issue 16): a project created from the sidebar's link, a chat moved into it from its
menu by keyboard and shown under it in the sidebar, the Projects group collapsed and remembered, a chat dragged onto
a project and back out, a new chat started in the project; and the project's page on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Project
from tests.factories import ConversationFactory, UserFactory
from tests.live import signed_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 375, "height": 740}


def test_create_a_project_and_move_chats_into_it(new_page, live_app):
    user = UserFactory()
    ConversationFactory(user=user, title="Taxes")
    recipes = ConversationFactory(user=user, title="Recipes")
    chat = ConversationFactory(user=user, title="Holiday plans")
    page = signed_in(new_page, live_app, user)
    page.goto("/c/")

    # Create it from the sidebar's link to the Projects page.
    page.get_by_role("link", name="Projects", exact=True).click()
    expect(page.get_by_role("heading", name="Projects", level=1)).to_be_visible()
    page.get_by_label("Name").fill("Trip to Spain")
    page.get_by_label(re.compile("^Instructions")).fill("Answer in metric units.")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Trip to Spain", level=1)).to_be_visible()
    project = Project.objects.get(user=user)
    assert project.instructions == "Answer in metric units."

    # Move a chat into it from the chat's menu, by keyboard: the sidebar shows it under the project.
    page.goto("/c/")
    page.get_by_label("Options for Holiday plans").focus()
    page.keyboard.press("Enter")
    picker = page.locator(f"#sidebar-project-{chat.id}")
    picker.focus()
    picker.select_option(label="Trip to Spain")
    page.keyboard.press("Tab")
    expect(page.locator(f"#conversation-groups form[action='/c/{chat.id}/project/'] button")).to_be_focused()
    page.keyboard.press("Enter")
    group = page.locator("#sidebar-projects")
    expect(group.get_by_role("link", name="Trip to Spain")).to_be_visible()
    expect(group.locator(".conversation-link")).to_have_text(["Holiday plans"])
    expect(page.locator(f"#conversation-link-{chat.id}")).to_be_focused()
    expect(page.locator(".conversation-link", has_text="Holiday plans")).to_have_count(1)
    chat.refresh_from_db()
    assert chat.project_id == project.id

    # The Projects group folds, and stays folded after a reload.
    page.locator("#sidebar-projects > summary").click()
    expect(group.locator(".conversation-link")).to_be_hidden()
    page.reload()
    expect(page.locator("#sidebar-projects")).not_to_have_attribute("open", re.compile(".*"))
    page.locator("#sidebar-projects > summary").click()
    expect(group.locator(".conversation-link")).to_have_text(["Holiday plans"])

    # Drag and drop: another chat onto the project, then back out onto the recent ones.
    page.locator(f"#conversation-link-{recipes.id}").drag_to(page.locator(f"[data-project-drop='{project.id}']"))
    expect(group.locator(".conversation-link")).to_have_count(2)
    recipes.refresh_from_db()
    assert recipes.project_id == project.id
    page.locator(f"#conversation-link-{recipes.id}").drag_to(page.get_by_role("link", name="Taxes"))
    expect(group.locator(".conversation-link")).to_have_text(["Holiday plans"])
    recipes.refresh_from_db()
    assert recipes.project_id is None

    # A chat's header says which project it is in.
    page.goto(f"/c/{chat.id}/")
    expect(page.get_by_text("In the project")).to_be_visible()


def test_a_new_chat_in_a_project_and_its_page_on_a_phone(new_page, live_app):
    user = UserFactory()
    project = Project.objects.create(user=user, name="Garden " + "very long name " * 6, instructions="Be brief.")
    ConversationFactory(user=user, project=project, title="Tomatoes")
    page = signed_in(new_page, live_app, user)
    page.set_viewport_size(PHONE)
    page.goto(f"/c/projects/{project.id}/")
    expect(page.get_by_role("link", name="Tomatoes")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the project page scrolls sideways on a phone ({width}px)"

    page.get_by_role("link", name="New chat in this project").click()
    expect(page.get_by_text("New chat in the project")).to_be_visible()
    page.locator("#composer-input").fill("When do I plant garlic?")
    page.get_by_role("button", name="Send").click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    new = Conversation.objects.exclude(title="Tomatoes").get(user=user)
    assert new.project_id == project.id
    # The chat's header names its project, and the composer stays on a phone's screen.
    expect(page.get_by_text("In the project")).to_be_visible()
    expect(page.locator("#composer-input")).to_be_in_viewport()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the chat page scrolls sideways on a phone ({width}px)"
