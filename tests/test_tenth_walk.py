"""What a tenth walk through the app found (unit and view tests; the browser ones are in test_browser_tenth_walk.py)."""

from __future__ import annotations

from conversations.services import title_from_words


def test_a_long_questions_words_title_ends_after_a_whole_word_with_an_ellipsis():
    question = "Tell me about the history of porcelain teapots in China and Europe, in detail please " * 2
    # It was cut at 80 characters: the chat's heading, its tab and the shared page read "... in detail pl".
    assert title_from_words(question) == "Tell me about the history of porcelain teapots in China and Europe, in detail…"
    assert title_from_words("  A short   question? ") == "A short question?"
    assert title_from_words("a" * 80) == "a" * 80  # at the limit: whole
    assert title_from_words("x" * 200) == "x" * 79 + "…"  # one word longer than a title is still cut
    assert len(title_from_words("word " * 100)) <= 80
