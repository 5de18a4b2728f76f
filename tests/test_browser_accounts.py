"""A person signing up, confirming, adding a key and signing out another device, in a real chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
PASSWORD = "a-long-browser-password-42"


def confirmation_link(email_dir: str, address: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(Path(email_dir).glob("*.log")):
            text = path.read_text()
            if address in text and "confirm-email" in text:
                return re.search(r"https?://\S+/accounts/confirm-email/\S+/", text).group(0)
        time.sleep(0.1)
    raise AssertionError(f"no confirmation email for {address}")


def sign_in(page, email: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(re.compile(r"/c/"))


def test_sign_up_confirm_add_a_key_and_sign_out_another_device(new_page, live_app, fake_anthropic):
    email = "browser.person@example.com"
    page = new_page()
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password:", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again):").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_text(re.compile("verification", re.I)).first.wait_for()

    link = confirmation_link(live_app.email_dir, email)
    page.goto(
        link.split("://", 1)[1].split("/", 1)[1].join(["/", ""]) if False else re.sub(r"^https?://[^/]+", "", link)
    )
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(re.compile(r"/c/"))
    assert page.get_by_role("heading", name="What would you like to know?").is_visible()

    page.goto("/settings/keys/")
    page.get_by_label("Provider").select_option("anthropic")
    page.get_by_label("API key").fill("sk-ant-test-browser-key-7xQ9")
    page.get_by_role("button", name="Save key").click()
    row = page.locator("table tr", has_text="Anthropic")
    assert "…7xQ9" in row.inner_text()
    assert "sk-ant-test-browser-key" not in page.content()
    row.get_by_role("button", name="Test").click()
    page.get_by_text("The key works.").wait_for()

    laptop = new_page()
    sign_in(laptop, email)

    page.goto("/settings/sessions/")
    sessions = page.locator(".session")
    assert sessions.count() == 2
    other = page.locator(".session:not(.session-current)")
    other.get_by_role("button", name="Sign out").click()
    page.get_by_text("That device has been signed out.").wait_for()
    assert page.locator(".session").count() == 1

    laptop.goto("/settings/keys/")
    assert "/accounts/login/" in laptop.url, "the other device is signed out"
