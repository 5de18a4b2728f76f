"""The keyboard focus ring in a real chromium: for everything Tab reaches on a settings page (header links on the
page's background, fields and buttons on a card), its colour has at least 3:1 contrast against what it is drawn on,
in the light theme, the dark theme, and the system theme of a dark-mode device (WCAG 2.2 non-text contrast)."""

from __future__ import annotations

import pytest

from accounts.services import SYSTEM, provider_key_save
from tests.factories import UserFactory
from tests.live import session_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The focused element's outline colour and the first opaque background behind it (the outline is drawn outside the
# element, on its ancestors), with their contrast ratio as WCAG computes it.
FOCUS_CONTRAST = """() => {
  const el = document.activeElement;
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  };
  let behind = el.parentElement, background = null;
  while (behind) {
    const colour = rgb(getComputedStyle(behind).backgroundColor);
    if (colour.length === 3 || (colour.length === 4 && colour[3] === 1)) { background = colour.slice(0, 3); break; }
    behind = behind.parentElement;
  }
  background = background || [255, 255, 255];
  const style = getComputedStyle(el);
  const ring = rgb(style.outlineColor).slice(0, 3);
  const [a, b] = [luminance(ring), luminance(background)];
  return {
    element: `${el.tagName.toLowerCase()} ${(el.textContent || el.name || "").trim().slice(0, 30)}`,
    style: style.outlineStyle, width: parseFloat(style.outlineWidth),
    ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
  };
}"""


@pytest.mark.parametrize(("theme", "scheme"), [("light", "light"), ("dark", "dark"), ("system", "dark")])
def test_the_focus_ring_has_3_to_1_contrast_in_every_theme(new_page, live_app, theme, scheme):
    user = UserFactory()
    provider_key_save(user=user, provider="anthropic", api_key="sk-ant-test-focus-ring-0123456789", client=SYSTEM)
    page = new_page()
    page.emulate_media(color_scheme=scheme)
    page.context.add_cookies([{"name": "sessionid", "value": session_for(user), "url": live_app.url}])
    page.goto("/settings/keys/")
    page.evaluate("theme => document.documentElement.dataset.theme = theme", theme)

    seen, weak = [], []
    for _ in range(32):  # skip link, header, settings menu (grown: Your data, Tool activity), then the keys card
        page.keyboard.press("Tab")
        focus = page.evaluate(FOCUS_CONTRAST)
        if focus["element"].startswith("body"):
            break  # past the last control: the focus left the page
        seen.append(focus["element"])
        if focus["style"] == "none" or focus["width"] < 2 or focus["ratio"] < 3:
            weak.append(focus)
    assert any("Test" in element for element in seen), f"Tab did not reach the keys card: {seen}"
    assert weak == [], f"{theme} theme ({scheme} device): focus rings under 3:1 (or none): {weak}"
