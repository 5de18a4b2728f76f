"""Retention cleanup over a million messages: how long a run takes and the longest single statement in it.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/cleanup.py [--messages 1000000]

A scratch database gets conversations of --per-conversation messages each (one branch: every message the parent
of the next), in three equal parts: in use (touched today), idle for 100 days (archived by the run) and archived
60 days ago (deleted by the run, with CONVERSATION_RETENTION_DAYS=30). Then `cleanup_run` runs once, every
statement timed (connection.execute_wrapper): the longest is the most a statement of the run can hold its locks
for, which should stay well under a second. Printed, not asserted.

Measured (2026-11, the shared 2-core VM with other work running): 1,000,000 messages generated in 218 s; the run
archived 3,333 conversations and deleted 3,333 (333,300 messages) in 309 s, 10,093 statements, the longest 632 ms
(a SELECT of one batch's ids) with batches of 500 messages. With batches of 1,000: 361 s, the longest 995 ms, too
close to a second, hence 500.
"""

from __future__ import annotations

import argparse
import random
import time

from common import scratch_database, synthetic_paragraph


def message_insert_sql(conversation_ids: list, per_conversation: int, paragraph: str) -> tuple[str, list]:
    """One INSERT … SELECT for the messages of these conversations, every column of the model filled (from a
    template message for the columns not generated here), so it keeps working when columns are added."""
    from django.db import connection

    from conversations.models import Message

    template = Message(role="user", content=paragraph)
    generated = {
        "id": "md5(c.id::text || '-' || n)::uuid",
        "conversation_id": "c.id",
        "parent_id": "CASE WHEN n > 1 THEN md5(c.id::text || '-' || (n - 1))::uuid END",
        "author_id": "CASE WHEN n %% 2 = 1 THEN c.user_id END",
        "role": "CASE WHEN n %% 2 = 1 THEN 'user' ELSE 'assistant' END",
        "created_at": f"c.updated_at - make_interval(mins => {per_conversation} - n)",
        "updated_at": f"c.updated_at - make_interval(mins => {per_conversation} - n)",
    }
    columns, expressions, params = [], [], []
    for field in Message._meta.concrete_fields:
        if getattr(field, "generated", False):
            continue
        columns.append(connection.ops.quote_name(field.column))
        if field.column in generated:
            expressions.append(generated[field.column])
        else:
            expressions.append("%s")
            params.append(field.get_db_prep_save(getattr(template, field.attname), connection))
    # Column names from the model and numbers; the values are parameters.
    sql = (
        f"INSERT INTO messages ({', '.join(columns)}) SELECT {', '.join(expressions)} "  # noqa: S608
        f"FROM conversations c CROSS JOIN generate_series(1, {per_conversation}) AS n WHERE c.id = ANY(%s)"
    )
    return sql, [*params, conversation_ids]


def populate(*, messages: int, per_conversation: int) -> dict[str, int]:
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from conversations.models import Conversation
    from tests.factories import UserFactory

    rng = random.Random(18)
    now = timezone.now()
    users = [UserFactory(password=None) for _ in range(20)]
    count = max(3, messages // per_conversation)
    kinds = {"in use": (now, None), "idle": (now - dt.timedelta(days=100), None)}
    kinds["archived"] = (now - dt.timedelta(days=160), now - dt.timedelta(days=60))
    conversations = []
    for index in range(count):
        kind = list(kinds)[index % 3]
        updated_at, archived_at = kinds[kind]
        conversations.append(
            Conversation(
                user=users[index % len(users)],
                title=f"Conversation {index}",
                updated_at=updated_at,
                created_at=updated_at,
                archived_at=archived_at,
            )
        )
    Conversation.objects.bulk_create(conversations, batch_size=2000)
    ids = [conversation.id for conversation in conversations]
    paragraphs = [synthetic_paragraph(rng, sentences=3) for _ in range(20)]
    step = max(1, 20_000 // per_conversation)
    for start in range(0, len(ids), step):
        sql, params = message_insert_sql(ids[start : start + step], per_conversation, rng.choice(paragraphs))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        done = min(len(ids), start + step) * per_conversation
        print(f"\r  {done:,} messages", end="", flush=True)
    print()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"conversations": count, "messages": count * per_conversation}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--per-conversation", type=int, default=100)
    parser.add_argument("--reuse", default="", help="a database kept by --keep (populated already)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_database("bench_cleanup", reuse=args.reuse, keep=args.keep):
        from chatbot.cleanup import cleanup_run, longest_statement
        from conversations.models import Conversation, Message

        if not args.reuse:
            started = time.perf_counter()
            made = populate(messages=args.messages, per_conversation=args.per_conversation)
            print(f"generated {made['messages']:,} messages in {made['conversations']:,} conversations "
                  f"({time.perf_counter() - started:.0f} s)")  # fmt: skip

        started = time.perf_counter()
        with longest_statement() as timer:
            counts = cleanup_run(archive_days=90, retention_days=30)
        elapsed = time.perf_counter() - started
        for label, count in counts.items():
            print(f"  {label}: {count:,}")
        print(f"cleanup: {elapsed:.1f} s, {timer.count:,} statements")
        print(f"longest statement: {timer.longest * 1000:.0f} ms: {' '.join(timer.sql.split())[:160]}")
        print("most time in:")
        for shape, seconds in sorted(timer.by_statement.items(), key=lambda item: -item[1])[:6]:
            print(f"  {seconds:6.1f} s  {shape}")
        print(f"left: {Message.objects.count():,} messages in {Conversation.objects.count():,} conversations")


if __name__ == "__main__":
    main()
