"""reStructuredText (Sphinx sources) and AsciiDoc: read with their section titles, not their markup."""

from __future__ import annotations

import pytest

from documents.parsing import parse_document

SPHINX_PAGE = """\
.. _topics-http-sessions:

===================
How to use sessions
===================

.. module:: django.contrib.sessions
   :synopsis: Provides session management for Django projects.

.. toctree::
   :maxdepth: 1

   install
   tutorial01

Django provides full support for anonymous sessions. See :ref:`the settings <settings-sessions>`
and :setting:`SESSION_ENGINE`, or `the RFC <https://www.rfc-editor.org/rfc/rfc6265>`_.

Enabling sessions
=================

Sessions are implemented via a piece of :doc:`middleware </ref/middleware>`.

.. note::

    The sessions framework is cookie-based.

.. versionchanged:: 5.1

    Cookies are signed.

Configuring the ``SESSION_ENGINE``
----------------------------------

.. function:: get_session_engine(name, *, strict=False)

    Returns the engine named ``name``.

.. code-block:: python
   :linenos:

    SESSION_ENGINE = "django.contrib.sessions.backends.cache"

.. index:: pair: sessions; engine

Using database-backed sessions
------------------------------

Run ``manage.py migrate``.

.. setting:: SESSION_COOKIE_AGE

Using sessions in views
=======================

When ``SessionMiddleware`` is activated, each request has a :ref:`session
attribute <session-attribute>`.
"""


def test_a_sphinx_page_is_read_with_its_titles_and_without_its_build_markup():
    parsed = parse_document(SPHINX_PAGE.encode(), "sessions.txt")  # Django's sources are .txt files
    assert parsed.kind == "rst" and parsed.mime_type == "text/x-rst"
    assert parsed.title == "How to use sessions"
    labels = [(section.chapter, section.section) for section in parsed.sections]
    assert labels == [
        ("How to use sessions", ""),
        ("How to use sessions", "Enabling sessions"),
        ("How to use sessions", "Configuring the SESSION_ENGINE"),
        ("How to use sessions", "Using database-backed sessions"),
        ("How to use sessions", "Using sessions in views"),
    ]
    text = parsed.text
    # Markup that is not text: targets, the toctree's file names, index entries, directive options, adornments.
    for noise in ("_topics-http-sessions", "tutorial01", ":maxdepth:", "pair: sessions", ":linenos:", "====", "----",
                  ":ref:", ":setting:", "<settings-sessions>", "rfc6265", ":synopsis:"):  # fmt: skip
        assert noise not in text, noise
    # Roles and links become their text; admonitions and versions say what they are; a signature is kept.
    assert "See the settings\nand SESSION_ENGINE, or the RFC." in text
    assert "Sessions are implemented via a piece of middleware." in text
    assert "Note:\n\n    The sessions framework is cookie-based." in text
    assert "Changed in version 5.1" in text
    assert "get_session_engine(name, *, strict=False)" in text
    assert 'SESSION_ENGINE = "django.contrib.sessions.backends.cache"' in text  # code is text, indented
    assert "each request has a session\nattribute." in text  # a role over two lines
    assert "SESSION_COOKIE_AGE" not in text  # a marker naming the title after it, not text of the section before


@pytest.mark.parametrize(
    ("content", "name", "kind"),
    [
        (SPHINX_PAGE, "sessions.rst", "rst"),
        ("Title\n=====\n\nNo directive here.\n", "notes.rst", "rst"),  # by its name
        ("Title\n=====\n\nNo directive here, so plain text.\n", "notes.txt", "text"),
        ("Install\n=======\n\nRun it.\n\nUse\n---\n\nCall it.\n", "README.txt", "rst"),  # two titles
        ("A note.\n\n.. note:: a directive, but no title anywhere\n", "notes.txt", "text"),
        ("# Heading\n\n.. note:: in Markdown\n\nText\n====\n", "notes.md", "markdown"),  # a Markdown name wins
        ("= Guide\n\n== Setup\n\nRun it.\n", "guide.adoc", "asciidoc"),
    ],
)
def test_the_kind_is_told_by_name_or_by_a_directive_and_a_title(content, name, kind):
    assert parse_document(content.encode(), name).kind == kind


def test_rst_titles_take_their_levels_in_the_order_their_styles_appear():
    text = (
        "Part\n####\n\nIntro.\n\nChapter\n*******\n\nBody.\n\nSection\n=======\n\nMore.\n\n"
        "Next chapter\n************\n\nEnd.\n"
    )
    parsed = parse_document(text.encode(), "book.rst")
    assert [(s.chapter, s.section) for s in parsed.sections] == [
        ("Part", ""), ("Part", "Chapter"), ("Part", "Section"), ("Part", "Next chapter")
    ]  # fmt: skip


def test_rst_lines_that_only_look_like_titles_stay_text():
    text = (
        "Intro paragraph\nruns over lines\n---\n\n"  # a short underline after a paragraph's second line
        "    indented\n    ========\n\n"  # indented: a block quote, never a title
        "=====  =====\nA      B\n=====  =====\n"  # a simple table
    )
    parsed = parse_document(text.encode(), "table.rst")
    assert [(s.chapter, s.section) for s in parsed.sections] == [("", "")]
    assert "A B" in parsed.text and "indented" in parsed.text


def test_hostile_rst_and_asciidoc_never_fail():
    # Each of the long ones took minutes to hours in a first version of the patterns (quadratic backtracking).
    long_ones = (
        "`" + " " * 200_000 + "x",
        ":a" * 200_000,
        "= x" + " " * 200_000 + "y",
        ":r:`" + " " * 200_000 + "<x>`",
        "``x " * 50_000 + "\n====",  # a title of inline literals that none closes
    )
    for name in ("x.rst", "x.adoc"):
        for content in (
            "=" * 100_000, ".. toctree::\n" * 50_000, "\n".join(["T", "="] * 20_000), "\x00\r==\r\r.. ::", *long_ones
        ):  # fmt: skip
            try:
                parse_document(content.encode(), name)
            except Exception as exc:  # only the readable refusal of a file without text
                assert type(exc).__name__ == "ParseError", exc


def test_asciidoc_titles_drive_the_labels_and_listings_and_comments_are_kept_apart():
    text = (
        "= User Guide\n:toc: left\n:icons: font\n\nIntro text.\n\n"
        "== Installing\n\n[source,shell]\n----\n== not a title inside a listing\npip install it\n----\n\n"
        "=== On Windows\n\nUse the installer.\n\n"
        "////\nA comment block: not text.\n////\n// a comment line\n"
        "== Using it\n\nRun `it`.\n"
    )
    parsed = parse_document(text.encode(), "guide.adoc")
    assert parsed.title == "User Guide"
    assert [(s.chapter, s.section) for s in parsed.sections] == [
        ("User Guide", ""), ("Installing", ""), ("Installing", "On Windows"), ("Using it", "")
    ]  # fmt: skip
    assert "== not a title inside a listing\npip install it" in parsed.text
    for noise in (":toc:", "[source,shell]", "A comment block", "a comment line", "----"):
        assert noise not in parsed.text, noise
