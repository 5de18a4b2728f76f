"""documents.chunking: exact offsets into parsed.text, size limits, overlap, and section boundaries."""

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


def assert_invariants(parsed: ParsedDocument, chunks: list[ChunkDraft], size: int) -> None:
    text = parsed.text
    spans = section_spans(parsed)
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.text and chunk.text == chunk.text.strip()
        assert len(chunk.text) <= size
        assert chunk.token_count == len(chunk.text.split())
        # Inside exactly one section, and labelled with that section's headings.
        owners = [i for i, (start, end) in enumerate(spans) if start <= chunk.char_start and chunk.char_end <= end]
        assert len(owners) == 1
        owner = parsed.sections[owners[0]]
        assert (chunk.chapter, chunk.section) == (owner.chapter, owner.section)
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
    assert len(chunks) > 30
    assert_invariants(parsed, chunks, 800)
    for chunk in chunks:
        # Markers (whole or cut by the chunk's edges) only ever come from the chunk's own section.
        for marker in re.findall(r"\[m\d+-\d+-\d+\]", chunk.text):
            assert owners[marker] == (chunk.chapter, chunk.section)
    assert {(c.chapter, c.section) for c in chunks} == {(s.chapter, s.section) for s in parsed.sections}


def test_consecutive_chunks_of_a_section_overlap_from_a_word_boundary():
    source, _ = long_markdown(seed=3)
    parsed = parse_document(source.encode(), "long.md")
    text = parsed.text
    chunks = chunk_document(parsed, size=500, overlap=120)
    assert_invariants(parsed, chunks, 500)
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


def test_chunks_never_cross_sections_and_tiny_sections_are_kept():
    parsed = doc(
        Section("One", "", "Short."),
        Section("One", "A", "word " * 400),
        Section("Two", "", "Tiny too."),
    )
    chunks = chunk_document(parsed, size=300, overlap=40)
    assert_invariants(parsed, chunks, 300)
    assert chunks[0].text == "Short." and (chunks[0].chapter, chunks[0].section) == ("One", "")
    assert chunks[-1].text == "Tiny too." and chunks[-1].chapter == "Two"
    assert {c.section for c in chunks[1:-1]} == {"A"}


def test_offsets_account_for_empty_and_padded_sections():
    parsed = doc(Section("A", "", "first"), Section("B", "", ""), Section("C", "", "  indented\n  code  "))
    chunks = chunk_document(parsed)
    assert_invariants(parsed, chunks, 800)
    assert [c.text for c in chunks] == ["first", "indented\n  code"]
    assert chunks[1].char_start == len("first\n\n\n\n  ")


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
        )
    ]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, 100), (100, -1)])
def test_invalid_arguments(size, overlap):
    with pytest.raises(ValueError):
        chunk_document(doc(Section("", "", "text")), size=size, overlap=overlap)


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
    assert_invariants(parsed, chunk_document(parsed, size=size, overlap=overlap), size)


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
