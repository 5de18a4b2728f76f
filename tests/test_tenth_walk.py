"""What a tenth walk through the app found (unit and view tests; the browser ones are in test_browser_tenth_walk.py)."""

from __future__ import annotations

import pytest

from conversations.services import title_from_words


def test_a_long_questions_words_title_ends_after_a_whole_word_with_an_ellipsis():
    question = "Tell me about the history of porcelain teapots in China and Europe, in detail please " * 2
    # It was cut at 80 characters: the chat's heading, its tab and the shared page read "... in detail pl".
    expected = "Tell me about the history of porcelain teapots in China and Europe, in detail…"
    assert title_from_words(question) == expected
    assert title_from_words("  A short   question? ") == "A short question?"
    assert title_from_words("a" * 80) == "a" * 80  # at the limit: whole
    assert title_from_words("x" * 200) == "x" * 79 + "…"  # one word longer than a title is still cut
    assert len(title_from_words("word " * 100)) <= 80
    # Without the question's Markdown (the eleventh walk: a code fence was the new chat's title until the model's).
    assert title_from_words("```python\ndef f(x):\n    return x\n```\nWhy?") == "def f(x): return x Why?"
    assert title_from_words("**Important**: how do I _rename_ a [branch](https://example.com)?") == (
        "Important: how do I rename a branch?"
    )
    assert title_from_words("Why is my <div> not centred? 2 * 3 * 4") == "Why is my <div> not centred? 2 * 3 * 4"
    assert title_from_words("```\n```") == "``` ```"  # nothing but markup: its words as they were


def test_a_usage_chart_is_drawn_for_a_phone_too_the_whole_period_in_its_width():
    import datetime as dt

    from catalog.charts import NARROW_WIDTH, bar_chart

    start = dt.date(2026, 11, 1)
    points = [(start + dt.timedelta(days=n), float(n)) for n in range(90)]
    chart = bar_chart(title="Tokens", points=points, format_value=str, narrow=True)
    narrow = chart.narrow
    assert (chart.width, narrow.width, narrow.right) == (640, NARROW_WIDTH, NARROW_WIDTH - 8)
    assert len(narrow.bars) == 90 and narrow.summary == chart.summary and narrow.narrow is None
    last = narrow.bars[-1]
    assert float(last.x) + float(last.width) <= narrow.right, "the last day inside the drawing"
    assert [label.text for label in narrow.day_labels] == ["1 Nov", "16 Dec", "29 Jan"]
    assert bar_chart(title="Tokens", points=points, format_value=str).narrow is None  # the admin's: wide only


@pytest.mark.django_db
def test_the_usage_page_has_each_chart_in_two_drawings_with_their_own_ids(user, user_client):
    from django.urls import reverse

    from tests.factories import ConversationFactory, UsageLogFactory

    UsageLogFactory(conversation=ConversationFactory(user=user))
    page = user_client.get(reverse("accounts:usage")).content.decode()
    for chart_id in ("token-chart", "cost-chart"):
        assert f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false" class="bar-chart-wide"' in page
        assert (
            f'aria-labelledby="{chart_id}-narrow-title {chart_id}-narrow-desc" focusable="false" '
            'class="bar-chart-narrow"' in page
        )
    assert page.count('<svg viewBox="0 0 320 200"') == 2
