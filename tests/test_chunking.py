"""documents.chunking: exact offsets into parsed.text, size limits, overlap, section boundaries and heading paths."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from documents.chunking import ChunkDraft, chunk_document
from documents.parsing import ParsedDocument, Section, parse_document

WORDS = [
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
    "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "sigma",
]  # fmt: skip


def doc(*sections: Section) -> ParsedDocument:
    return ParsedDocument(kind="text", mime_type="text/plain", title="", sections=list(sections))


def sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(4, 18))).capitalize() + rng.choice([".", "!", "?"])


def paragraph(rng: random.Random, marker: str) -> str:
    return f"{marker} " + " ".join(sentence(rng) for _ in range(rng.randint(1, 7)))


def section_spans(parsed: ParsedDocument) -> list[tuple[int, int]]:
    spans, position = [], 0
    for section in parsed.sections:
        spans.append((position, position + len(section.text)))
        position += len(section.text) + 2
    return spans


def assert_invariants(parsed: ParsedDocument, chunks: list[ChunkDraft], size: int, min_size: int = 100) -> None:
    text = parsed.text
    spans = section_spans(parsed)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= size
        assert chunk.token_count == len(chunk.text.split())
        # Labelled with the headings and page of the section it starts in; it runs on into other sections only
        # from a short one (under min_size), never onto another page, and its heading names those it covers.
        covered = [
            i
            for i, (start, end) in enumerate(spans)
            if start < chunk.char_end and chunk.char_start < end and parsed.sections[i].text.strip()
        ]
        owner = parsed.sections[covered[0]]
        assert spans[covered[0]][0] <= chunk.char_start
        assert (chunk.chapter, chunk.section, chunk.page) == (owner.chapter, owner.section, owner.page)
        assert {parsed.sections[i].page for i in covered} == {owner.page}
        for a, b in itertools.pairwise(covered):  # a short section runs on, a short last one joins the one before
            assert min(len(parsed.sections[a].text.strip()), len(parsed.sections[b].text.strip())) < min_size
        for i in covered:
            for label in (parsed.sections[i].chapter, parsed.sections[i].section):
                assert label.casefold() in chunk.heading.casefold()
    starts = [chunk.char_start for chunk in chunks]
    assert starts == sorted(starts)
    # Every non-space character of the document is in some chunk.
    covered = bytearray(len(text))
    for chunk in chunks:
        covered[chunk.char_start : chunk.char_end] = b"\x01" * (chunk.char_end - chunk.char_start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


def long_markdown(seed: int = 7, target: int = 30_000) -> tuple[str, dict[str, tuple[str, str]]]:
    """A ~30k-character Markdown document; every paragraph starts with a marker naming its heading path."""
    rng = random.Random(seed)
    parts, owners, length, chapter_number = [], {}, 0, 0
    while length < target:
        chapter_number += 1
        chapter = f"Chapter {chapter_number}"
        parts.append(f"# {chapter}")
        for section_number in range(rng.randint(0, 4)):
            section = f"Section {chapter_number}.{section_number}" if section_number else ""
            if section:
                parts.append(f"## {section}")
            for paragraph_number in range(rng.randint(1, 8)):
                marker = f"[m{chapter_number}-{section_number}-{paragraph_number}]"
                owners[marker] = (chapter, section)
                parts.append(paragraph(rng, marker))
                length += len(parts[-1])
    return "\n\n".join(parts), owners


def test_long_generated_document():
    source, owners = long_markdown()
    parsed = parse_document(source.encode(), "long.md")
    assert len(parsed.text) > 28_000
    chunks = chunk_document(parsed)
    assert len(chunks) > 25
    assert_invariants(parsed, chunks, 1000)
    for chunk in chunks:
        # Markers (whole or cut by the chunk's edges) come from the chunk's own section or one its heading names.
        for marker in re.findall(r"\[m\d+-\d+-\d+\]", chunk.text):
            chapter, section = owners[marker]
            assert chapter in chunk.heading and section in chunk.heading
    # Every section is named by the heading of a passage.
    for section in parsed.sections:
        assert any(section.chapter in c.heading and section.section in c.heading for c in chunks)


def test_consecutive_chunks_of_a_section_overlap_from_a_word_boundary():
    source, _ = long_markdown(seed=3)
    parsed = parse_document(source.encode(), "long.md")
    text = parsed.text
    chunks = chunk_document(parsed, size=500, overlap=120, min_size=0)
    assert_invariants(parsed, chunks, 500, min_size=0)
    pairs = [(a, b) for a, b in itertools.pairwise(chunks) if (a.chapter, a.section) == (b.chapter, b.section)]
    assert len(pairs) > 20
    for previous, current in pairs:
        # Chunks of one section never overlap more than asked, always overlap some, and the overlap is a word-aligned
        # tail of the previous chunk.
        assert previous.char_start < current.char_start < previous.char_end
        shared = text[current.char_start : previous.char_end]
        assert 0 < len(shared) <= 120
        assert previous.text.endswith(shared) and current.text.startswith(shared)
        assert text[current.char_start - 1].isspace()


def test_cuts_prefer_paragraphs_then_sentences_and_never_split_words():
    rng = random.Random(11)
    paragraphs = [paragraph(rng, f"P{i}") for i in range(40)]
    parsed = doc(Section("C", "S", "\n\n".join(paragraphs)))
    text = parsed.text
    chunks = chunk_document(parsed, size=800, overlap=0)
    assert_invariants(parsed, chunks, 800)
    for chunk in chunks[:-1]:
        after = text[chunk.char_end : chunk.char_end + 2]
        assert after[:1].isspace()  # never mid-word
        assert after == "\n\n" or chunk.text[-1] in ".!?"  # a paragraph or sentence end, not a bare space
    assert sum(text[c.char_end : c.char_end + 2] == "\n\n" for c in chunks[:-1]) >= len(chunks) // 2
    # With no overlap the chunks tile the text: joined with the whitespace between them they rebuild it.
    assert all(a.char_end <= b.char_start for a, b in itertools.pairwise(chunks))


def test_a_single_long_word_is_split():
    word = "x" * 2000
    parsed = doc(Section("", "", word))
    chunks = chunk_document(parsed, size=800, overlap=100)
    assert [(c.char_start, c.char_end) for c in chunks] == [(0, 800), (800, 1600), (1600, 2000)]
    assert "".join(c.text for c in chunks) == word
    assert [c.ordinal for c in chunks] == [0, 1, 2]
    assert_invariants(parsed, chunks, 800)


def test_long_word_between_normal_words():
    parsed = doc(Section("", "", "start here " + "y" * 1500 + " and then the end."))
    chunks = chunk_document(parsed, size=600, overlap=50)
    assert_invariants(parsed, chunks, 600)
    assert chunks[0].text == "start here"
    assert chunks[-1].text.endswith("the end.")


def test_without_a_minimum_chunks_never_cross_sections_and_tiny_sections_are_kept():
    parsed = doc(
        Section("One", "", "Short."),
        Section("One", "A", "word " * 400),
        Section("Two", "", "Tiny too."),
    )
    chunks = chunk_document(parsed, size=300, overlap=40, min_size=0)
    assert_invariants(parsed, chunks, 300, min_size=0)
    assert chunks[0].text == "Short." and (chunks[0].chapter, chunks[0].section) == ("One", "")
    assert chunks[-1].text == "Tiny too." and chunks[-1].chapter == "Two"
    assert {c.section for c in chunks[1:-1]} == {"A"}


def test_a_short_section_runs_on_into_the_next_and_a_short_last_one_joins_the_one_before():
    """A one-line NAME, a "See also" line, a page's closing line: not passages of their own, which would be
    embedded without the context that says what they are about."""
    body = "The widget spins at a steady rate when the lever is held down for a while. " * 5
    parsed = ParsedDocument(
        kind="html",
        mime_type="text/html",
        title="widget(1)",
        sections=[
            Section("widget(1) Manual Page", "NAME", "widget - spin things"),
            Section("widget(1) Manual Page", "DESCRIPTION", body.strip()),
            Section("widget(1) Manual Page", "GIT", "Part of the widget suite"),
        ],
    )
    chunks = chunk_document(parsed, size=1000, overlap=100, min_size=200)
    assert_invariants(parsed, chunks, 1000)
    assert [c.text for c in chunks] == [parsed.text]
    [chunk] = chunks
    assert (chunk.chapter, chunk.section) == ("widget(1) Manual Page", "NAME")  # where it starts
    assert chunk.heading == "widget(1) › widget(1) Manual Page › NAME, DESCRIPTION, GIT"
    assert chunk.embedding_text == f"{chunk.heading}\n\n{chunk.text}"


def test_a_sections_short_tail_repeats_more_of_the_chunk_before_it():
    words = " ".join(f"w{i}" for i in range(130))  # 609 characters: 500, then a tail of about 110 without a minimum
    parsed = doc(Section("C", "S", words))
    short = chunk_document(parsed, size=500, overlap=50, min_size=0)
    assert len(short[-1].text) < 150
    chunks = chunk_document(parsed, size=500, overlap=50, min_size=200)
    assert_invariants(parsed, chunks, 500)
    assert [c.char_start for c in chunks][:1] == [0] and len(chunks) == 2
    assert 190 <= len(chunks[-1].text) <= 200 and chunks[-1].char_end == len(words)
    assert chunks[-1].text.startswith("w")


def test_the_heading_path_names_each_part_once():
    parsed = parse_document(b"# Guide\n\nIntro text.\n\n## Install\n\n" + b"Run the installer. " * 20, "guide.md")
    chunks = chunk_document(parsed, min_size=0)
    # The first heading is the document's title and its chapter: named once.
    assert [c.heading for c in chunks] == ["Guide", "Guide › Install"]
    assert chunk_document(doc(Section("", "", "No headings at all.")))[0].heading == ""
    assert chunk_document(doc(Section("", "", "No headings at all.")))[0].embedding_text == "No headings at all."


def test_offsets_account_for_empty_and_padded_sections():
    parsed = doc(Section("A", "", "first"), Section("B", "", ""), Section("C", "", "  indented\n  code  "))
    chunks = chunk_document(parsed, min_size=0)
    assert_invariants(parsed, chunks, 800, min_size=0)
    assert [c.text for c in chunks] == ["first", "indented\n  code"]
    assert chunks[1].char_start == len("first\n\n\n\n  ")
    [joined] = chunk_document(parsed)  # short sections run on into the next
    assert_invariants(parsed, [joined], 1000)
    assert joined.text == "first\n\n\n\n  indented\n  code" and joined.heading == "A, C"


def test_a_huge_whitespace_run_does_not_stall():
    parsed = doc(Section("", "", "a " + " " * 3000 + "b\n" + "\n" * 5 + "c " * 10))
    chunks = chunk_document(parsed, size=100, overlap=30)
    assert_invariants(parsed, chunks, 100)
    assert chunks[0].text == "a"


def test_empty_input():
    assert chunk_document(doc()) == []
    assert chunk_document(doc(Section("", "", ""))) == []


def test_short_document_is_one_chunk():
    parsed = parse_document(b"# Notes\n\nHello there, world.", "notes.md")
    assert chunk_document(parsed) == [
        ChunkDraft(
            ordinal=0,
            text="Hello there, world.",
            chapter="Notes",
            section="",
            char_start=0,
            char_end=19,
            token_count=3,
            heading="Notes",
        )
    ]


@pytest.mark.parametrize(("size", "overlap", "min_size"), [(0, 0, 0), (100, 100, 0), (100, -1, 0), (100, 10, -1)])
def test_invalid_arguments(size, overlap, min_size):
    with pytest.raises(ValueError):
        chunk_document(doc(Section("", "", "text")), size=size, overlap=overlap, min_size=min_size)


@pytest.mark.parametrize("seed", range(25))
def test_random_documents_keep_the_invariants(seed):
    rng = random.Random(seed)
    alphabet = ["word", "a", "Sentence.", "end!", "q?", "\n", "\n\n", "  ", "\t", "x" * rng.randint(1, 300), "é", "。"]
    sections = []
    for number in range(rng.randint(1, 6)):
        body = "".join(rng.choice(alphabet) + rng.choice([" ", "", "\n"]) for _ in range(rng.randint(0, 400)))
        sections.append(Section(f"C{number // 2}", f"S{number}", body.strip()))
    parsed = doc(*sections)
    size = rng.randint(20, 900)
    overlap = rng.randint(0, size - 1)
    min_size = rng.choice([0, rng.randint(0, size)])
    chunks = chunk_document(parsed, size=size, overlap=overlap, min_size=min_size)
    assert_invariants(parsed, chunks, size, min_size=min_size)


def test_parsed_files_of_every_kind_chunk_cleanly():
    html = b"<html><title>T</title><h1>A</h1>" + b"<p>Some paragraph text here.</p>" * 80 + b"<h2>B</h2><p>End.</p>"
    for data, name in [(html, "page.html"), ((("Line of text. " * 20) + "\n\n").encode() * 30, "notes.txt")]:
        parsed = parse_document(data, name)
        assert_invariants(parsed, chunk_document(parsed, size=400, overlap=60), 400)


def test_each_passage_of_a_pdf_cites_the_page_it_is_on():
    """A section running over pages gives passages citing each page, not "Page 1" for all of them."""
    from tests.test_parsing import make_pdf

    sentence = "The north field drains slowly after rain and needs deeper ditches."
    pages = [[("Drainage", 16), *[sentence] * 12], [sentence] * 12, [("Costs", 16), "Ditches cost money.", "x"]]
    parsed = parse_document(make_pdf(pages), "field.pdf")
    chunks = chunk_document(parsed, size=300, overlap=60)
    assert_invariants(parsed, chunks, 300)
    assert {(chunk.chapter, chunk.page) for chunk in chunks} == {("Drainage", 1), ("Drainage", 2), ("Costs", 3)}
    section_pages = [section.page for section in parsed.sections for _ in chunk_document(doc(section), size=300)]
    assert [chunk.page for chunk in chunks] == section_pages
    assert chunk_document(parse_document(b"# A\n\nText.", "a.md"))[0].page is None


def markdown_with_code(blocks: int = 6) -> bytes:
    """Prose, then a code example with blank lines in it (where a paragraph break looks like a good cut)."""
    rng = random.Random(7)
    parts = ["# Guide"]
    for number in range(blocks):
        code = "\n\n".join(f"const step{number}_{line} = run({line}); // {sentence(rng)}" for line in range(5))
        parts += [f"## Step {number}", paragraph(rng, f"P{number}"), f"```js\n{code}\n```", sentence(rng)]
    return "\n\n".join(parts).encode()


def test_a_markdown_code_block_that_fits_in_a_chunk_is_never_cut_in_two():
    """In Node.js's and npm's documentation 331 of 2,562 code examples short enough for one passage were cut in
    two at a blank line inside them: the cut now comes before the block (a shorter passage) when it can."""
    parsed = parse_document(markdown_with_code(), "guide.md")
    chunks = chunk_document(parsed, size=600, overlap=80)
    assert_invariants(parsed, chunks, 600)
    blocks = re.findall(r"```js\n.*?\n```", parsed.text, flags=re.S)
    assert blocks and all(80 < len(block) <= 600 - 80 for block in blocks)
    for block in blocks:
        assert any(block in chunk.text for chunk in chunks), block[:40]
    for chunk in chunks:  # no passage ends inside a block (one may start in one: its overlap)
        assert not re.search(r"```js\n(?:(?!```).)*$", chunk.text, flags=re.S), chunk.text[-80:]
    # Plain text (and HTML, whose <pre> leaves no fence in the text) is cut as before: at the best break.
    plain = ParsedDocument(kind="text", mime_type="text/plain", title="", sections=parsed.sections)
    assert any(not all(block in chunk.text for block in blocks) for chunk in [chunk_document(plain, size=600)[0]])
    assert [c.text for c in chunk_document(plain, size=600, overlap=80)] != [c.text for c in chunks]


def test_a_markdown_table_that_fits_is_kept_whole_and_a_longer_block_is_still_cut():
    rows = "\n".join(f"| `option{n}` | what option {n} does to the build |" for n in range(12))
    table = f"| Option | Effect |\n| --- | --- |\n{rows}"
    long_code = "```\n" + "\n\n".join(f"line {n} of a long listing" for n in range(80)) + "\n```"
    text = "# Options\n\n" + "Intro words here. " * 8 + f"\n\n{table}\n\nAfter the table.\n\n{long_code}\n\nEnd."
    parsed = parse_document(text.encode(), "options.md")
    chunks = chunk_document(parsed, size=700, overlap=60)
    assert_invariants(parsed, chunks, 700)
    assert 160 + len(table) > 700 and len(table) <= 700 - 60, "a row break inside the first window was the best cut"
    assert any(table in chunk.text for chunk in chunks)
    assert len(long_code) > 700 and sum("line " in chunk.text for chunk in chunks) >= 3
