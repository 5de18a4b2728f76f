"""A person signing up, confirming, adding a key and signing out another device, in a real chromium."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory

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
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/c/"))


def test_sign_up_confirm_add_a_key_and_sign_out_another_device(new_page, live_app, fake_anthropic):
    email = "browser.person@example.com"
    page = new_page()
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign up", exact=True).click()
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


# Every allauth page a person can reach, in the order a person reaches them (the two-factor ones need the app on).
SIGNED_OUT_PAGES = ("/accounts/login/", "/accounts/signup/", "/accounts/password/reset/")
SIGNED_IN_PAGES = ("/accounts/email/", "/accounts/password/change/", "/accounts/2fa/", "/accounts/reauthenticate/")
TWO_FACTOR_PAGES = (
    "/accounts/2fa/",
    "/accounts/2fa/recovery-codes/",
    "/accounts/2fa/recovery-codes/generate/",
    "/accounts/2fa/totp/deactivate/",
)
LAYOUT = """() => {
    const main = document.querySelector("main");
    const card = main.querySelector(".settings-body") || main;
    const right = card.getBoundingClientRect().right + 1;
    const shown = [...card.querySelectorAll("*")].filter((e) => e.getClientRects().length);
    const heading = main.querySelector("h1");
    const next = heading.nextElementSibling;
    const buttons = [...main.querySelectorAll("button, input[type=submit]")];
    return {
        sideways: document.documentElement.scrollWidth > document.documentElement.clientWidth,
        outside: shown.filter((e) => e.getBoundingClientRect().right > right).map((e) => e.outerHTML.slice(0, 100)),
        unstyled: buttons.filter((e) => !e.classList.contains("button")).map((e) => e.outerHTML.slice(0, 100)),
        gap: next ? next.getBoundingClientRect().top - heading.getBoundingClientRect().bottom : 0,
        inCard: card !== main ? card.contains(heading) : null,
    };
}"""


def assert_laid_out(page, path, width: int, screenshots: Path) -> None:
    page.screenshot(path=screenshots / f"{path.strip('/').replace('/', '-')}-{width}.png", full_page=True)
    layout = page.evaluate(LAYOUT)
    where = f"{page.url} at {width}px"
    assert not layout["sideways"], f"{where} scrolls sideways"
    assert not layout["outside"], f"{where}: cut off by its card: {layout['outside']}"
    assert not layout["unstyled"], f"{where}: buttons without the app's style: {layout['unstyled']}"
    assert layout["gap"] < 60, f"{where}: a {layout['gap']}px gap under the heading"
    assert layout["inCard"] in (True, None), f"{where}: the page's heading is outside its card"


def totp_code(secret: str) -> str:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    # allauth accepts only the current 30-second step (no tolerance): a code read in a step's last seconds can expire
    # before the form reaches the server, so wait for the next step then.
    if 30 - time.time() % 30 < 5:
        time.sleep(30 - time.time() % 30 + 0.1)
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


@pytest.mark.parametrize("width", [1280, 375])
def test_every_account_page_is_styled_like_the_app(browser, live_app, width, tmp_path, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # the live app's
    user = UserFactory(password=PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    context = browser.new_context(base_url=live_app.url, viewport={"width": width, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        for path in SIGNED_OUT_PAGES:
            page.goto(path)
            assert_laid_out(page, path, width, tmp_path)
        sign_in(page, user.email)
        for path in SIGNED_IN_PAGES:
            page.goto(path)
            assert_laid_out(page, path, width, tmp_path)
            if path != "/accounts/reauthenticate/":
                assert page.locator(".settings-nav [aria-current=page]").count() == 1, path

        page.goto("/accounts/2fa/totp/activate/")
        if "/reauthenticate/" in page.url:
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Confirm").click()
            page.wait_for_url(re.compile(r"/totp/activate/"))
        assert_laid_out(page, "/accounts/2fa/totp/activate/", width, tmp_path)
        page.get_by_label("Authenticator code").fill(totp_code(page.locator("#authenticator_secret").input_value()))
        page.get_by_role("button", name="Activate").click()
        page.wait_for_url(re.compile(r"/recovery-codes/"))
        for path in TWO_FACTOR_PAGES:
            page.goto(path)
            assert_laid_out(page, path, width, tmp_path)
    finally:
        context.close()
