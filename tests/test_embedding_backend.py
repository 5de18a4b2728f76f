"""The ONNX backend embeds like sentence-transformers (same vectors, same rankings), and falls back to it safely.

Tolerances (docs/decisions.md, "Retrieval speed"): the exact ONNX graph's vectors have cosine >= 0.9999 with
sentence-transformers' and give the same top 5; the int8 copy used for questions with EMBEDDING_BACKEND=onnx-int8
has cosine >= 0.98 and keeps at least 4 of each question's top 5 on average.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from documents import embedding
from documents.chunking import chunk_document
from documents.parsing import parse_document

CORPUS = Path(__file__).parent / "corpus"
QUESTIONS = Path(__file__).parent.parent / "bench" / "data" / "git_questions.jsonl"

TEXTS = [
    "How do I put my uncommitted changes aside for a minute?",
    "short",
    "Ünïcödé, emoji 🍞 and CJK 日本語 in one passage.",
    # Over the model's 256 tokens: truncated the same way by both backends.
    "The proofing basket holds the dough while it rises overnight in the cold. " * 40,
    "R-5512 compressor relay fault; see the service notes for the door seal.",
]


@pytest.fixture
def backend(settings):
    """Switch EMBEDDING_BACKEND for one test; the encoders loaded under it are dropped afterwards."""
    saved = dict(embedding._encoders)

    def use(name: str) -> None:
        settings.EMBEDDING_BACKEND = name
        embedding._encoders.clear()
        embedding._cached_query.cache_clear()

    yield use
    embedding._encoders.clear()
    embedding._encoders.update(saved)
    embedding._cached_query.cache_clear()


def torch_vectors(texts: list[str]) -> np.ndarray:
    return embedding.get_model().encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def corpus_passages() -> list[str]:
    passages = []
    for path in sorted(CORPUS.glob("*.md")):
        passages += [draft.embedding_text for draft in chunk_document(parse_document(path.read_bytes(), path.name))]
    return passages


def top5(questions: np.ndarray, passages: np.ndarray) -> list[set[int]]:
    return [set(np.argsort(-(passages @ question), kind="stable")[:5].tolist()) for question in questions]


def test_onnx_gives_sentence_transformers_vectors_and_rankings(backend):
    backend("onnx")
    onnx = embedding.embed_array(TEXTS)
    assert embedding.backend_in_use() == "onnx"
    assert onnx.shape == (len(TEXTS), 384) and onnx.dtype == np.float32
    assert np.allclose(np.linalg.norm(onnx, axis=1), 1, atol=1e-5)
    cosines = (onnx * torch_vectors(TEXTS)).sum(axis=1)
    assert cosines.min() >= 0.9999, cosines

    passages = corpus_passages()
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()[:60]]
    questions += [TEXTS[0], TEXTS[4], "How do I keep bread fresh?", "what does the battery warning mean"]
    onnx_top = top5(embedding.embed_array(questions), embedding.embed_array(passages))
    torch_top = top5(torch_vectors(questions), torch_vectors(passages))
    assert onnx_top == torch_top


def test_the_int8_question_encoder_stays_close_and_documents_stay_exact(backend):
    backend("onnx-int8")
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()[:60]]
    quantized = np.array([embedding.embed_query(question) for question in questions], dtype=np.float32)
    exact = torch_vectors(questions)
    assert (quantized * exact).sum(axis=1).min() >= 0.98
    # Documents are embedded exactly whatever the question encoder: stored vectors do not depend on the setting.
    assert ((embedding.embed_array(TEXTS) * torch_vectors(TEXTS)).sum(axis=1) >= 0.9999).all()
    passages = torch_vectors(corpus_passages())
    overlap = [len(a & b) for a, b in zip(top5(quantized, passages), top5(exact, passages), strict=True)]
    assert sum(overlap) / len(overlap) >= 4.0, overlap


def test_without_onnxruntime_the_app_falls_back_to_sentence_transformers(backend, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it raises ImportError
    backend("onnx")
    vectors = embedding.embed_array(TEXTS[:2])
    assert embedding.backend_in_use() == "sentence-transformers"
    assert "onnxruntime is not installed" in caplog.text
    assert ((vectors * torch_vectors(TEXTS[:2])).sum(axis=1) >= 0.9999).all()


def test_an_unknown_backend_is_refused(backend):
    backend("tensorflow")
    with pytest.raises(RuntimeError, match="EMBEDDING_BACKEND must be one of"):
        embedding.embed_array(["x"])


def test_the_export_is_made_once_and_reused(backend, settings, tmp_path):
    settings.EMBEDDING_CACHE_DIR = tmp_path / "models"
    backend("onnx")
    first = embedding.embed_array(TEXTS[:1])
    [folder] = [path for path in (tmp_path / "models").iterdir() if path.is_dir()]
    assert {"model.onnx", "model.int8.onnx", "tokenizer.json", "meta.json"} <= {p.name for p in folder.iterdir()}
    exported_at = (folder / "model.onnx").stat().st_mtime_ns
    backend("onnx")  # a new process, as it were: loads the export, does not make it again
    assert np.allclose(embedding.embed_array(TEXTS[:1]), first, atol=1e-6)
    assert (folder / "model.onnx").stat().st_mtime_ns == exported_at
    assert not [path for path in (tmp_path / "models").iterdir() if path.name.startswith(".export-")]


def test_a_process_that_needs_the_export_never_imports_torch(tmp_path):
    # The export runs in a child process: torch's hundreds of MB never stay in a web or worker process.
    script = (
        "import sys, django; django.setup()\n"
        "from documents.embedding import backend_in_use, embed_array\n"
        "vector = embed_array(['warm up'])[0]\n"
        "print(backend_in_use(), round(float(vector @ vector), 3), 'torch' in sys.modules)\n"
    )
    env = {**os.environ, "EMBEDDING_CACHE_DIR": str(tmp_path / "models"), "EMBEDDING_BACKEND": "onnx"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["onnx", "1.0", "False"]
    [folder] = [path for path in (tmp_path / "models").iterdir() if path.is_dir()]
    assert (folder / "meta.json").exists()


def test_micro_batches_keep_every_text_once_within_the_budget():
    lengths = [5, 250, 7, 7, 120, 3, 256, 64, 64, 9]
    groups = embedding.micro_batches(lengths, max_texts=3, max_tokens=300)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    for group in groups:
        assert len(group) <= 3
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= 300
    # Shortest first, so a batch's texts are of similar length (little padding).
    assert [lengths[i] for group in groups for i in group] == sorted(lengths)


def test_micro_batches_spend_least_padding_and_runs():
    # Short texts share a run (a run's own cost is worth more than their padding) ...
    assert embedding.micro_batches([30] * 16, max_texts=32, max_tokens=1024) == [list(range(16))]
    # ... but chunks of 180 tokens are not padded to their neighbours' 256: 228 padded tokens cost more than a run.
    groups = embedding.micro_batches([256, 180, 256, 180, 180, 256], max_texts=32, max_tokens=1024)
    assert [sorted({[256, 180, 256, 180, 180, 256][i] for i in group}) for group in groups] == [[180], [256]]

    # A run that costs more than any padding (torch's batches): as few runs as the count allows.
    groups = embedding.micro_batches([5 + i for i in range(70)], max_texts=32, max_tokens=1 << 62, run_cost=1 << 40)
    assert len(groups) == 3 and max(len(group) for group in groups) <= 32

    def cost(groups, lengths):
        return sum(embedding.RUN_COST_TOKENS + len(g) * max(lengths[i] for i in g) for g in groups)

    # Never worse than filling each group up to the limits, shortest first (the rule before).
    rng = __import__("random").Random(7)
    for _ in range(50):
        lengths = [rng.randint(1, 256) for _ in range(rng.randint(1, 60))]
        ordered = sorted(range(len(lengths)), key=lambda i: lengths[i])
        filled, current = [], []
        for index in ordered:
            if current and (len(current) >= 8 or (len(current) + 1) * lengths[index] > 1024):
                filled.append(current)
                current = []
            current.append(index)
        filled.append(current)
        assert cost(embedding.micro_batches(lengths, max_texts=8, max_tokens=1024), lengths) <= cost(filled, lengths)


def test_embedding_order_does_not_depend_on_batching(backend, settings):
    backend("onnx")
    texts = [TEXTS[3], TEXTS[1], TEXTS[0], TEXTS[2], TEXTS[4]] * 3
    settings.EMBEDDING_BATCH_SIZE = 2
    small = embedding.embed_array(texts)
    settings.EMBEDDING_BATCH_SIZE = 32
    one = embedding.embed_array(texts)
    assert np.allclose(small, one, atol=1e-5)
    assert np.allclose(one[:5], one[5:10], atol=1e-6)
