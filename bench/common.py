"""Shared set-up for benchmarks: a scratch database on the server DATABASE_URL points at, dropped afterwards."""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

WORDS = " ".join(
    [
        "oven bread flour starter dough crust crumb proof bake steam deck stone temperature timer recipe yeast",
        "salt robot node topic service action planner path sensor motor controller battery safety joint camera",
        "lidar map tram metro ticket card station ferry district festival tart sardine harbour museum bridge",
        "river hill view freezer compressor relay door seal alarm display code technician repair service book",
        "part warranty manual invoice payment refund customer order shipping warehouse stock supplier contract",
        "delivery return policy",
    ]
).split(" ")


def connect_args(config: dict) -> dict:
    keys = {"dbname": "NAME", "user": "USER", "host": "HOST", "port": "PORT", "password": "PASSWORD"}
    return {arg: config[key] or None for arg, key in keys.items()}


@contextmanager
def scratch_database(prefix: str, *, reuse: str = "", keep: bool = False):
    """Create a database, point DATABASE_URL at it, migrate; drop it on the way out.

    reuse names a database kept by an earlier run (migrated again, not created); it is kept, as with keep.
    """
    import psycopg

    from chatbot.env import database_config

    base_url = os.environ["DATABASE_URL"]
    config = database_config(base_url)
    name = reuse or f"{prefix}_{uuid.uuid4().hex[:6]}"
    keep = keep or bool(reuse)
    if not reuse:
        with psycopg.connect(**connect_args(config), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = base_url.replace(f"/{config['NAME']}", f"/{name}", 1)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    try:
        yield os.environ["DATABASE_URL"]
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"kept the database {name} (--reuse {name} to run on it again; DROP DATABASE when done)")
        else:
            with psycopg.connect(**connect_args(config), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        os.environ["DATABASE_URL"] = base_url


def _vocabulary(size: int = 6000) -> tuple[list[str], list[float]]:
    """Topical words plus pronounceable made-up ones, with Zipf-like frequencies, as real text has."""
    rng = random.Random(1)
    syllables = [
        "ba",
        "be",
        "bi",
        "bo",
        "bu",
        "ka",
        "ke",
        "ki",
        "ko",
        "ku",
        "la",
        "le",
        "li",
        "lo",
        "lu",
        "ma",
        "me",
        "mi",
        "mo",
        "mu",
        "na",
        "ne",
        "ni",
        "no",
        "nu",
        "ra",
        "re",
        "ri",
        "ro",
        "ru",
    ]
    made_up = {"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(size)}
    words = STOPWORDS + WORDS + sorted(made_up)
    weights = [1 / (rank + 1) for rank in range(len(words))]
    return words, weights


STOPWORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "it",
    "that",
    "for",
    "on",
    "with",
    "as",
    "was",
    "at",
    "by",
    "this",
    "from",
    "or",
    "be",
    "are",
]
VOCABULARY, FREQUENCIES = _vocabulary()


def synthetic_paragraph(rng: random.Random, sentences: int = 6) -> str:
    out = []
    for _ in range(sentences):
        words = rng.choices(VOCABULARY, weights=FREQUENCIES, k=rng.randint(8, 18))
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, to print beside timings taken on a shared machine."""
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def reference_loop_ms() -> float:
    """A fixed pure-Python loop: this VM's speed drifts by a third within minutes, so each figure comes with it."""
    began = time.perf_counter()
    total = 0
    for number in range(5_000_000):
        total += number
    return (time.perf_counter() - began) * 1000
