"""The per-process Redis plumbing of reply streams: one outbox writing, one reader fanning out, against real Redis."""

from __future__ import annotations

import asyncio
import uuid

import redis

from conversations import streams


def entries_text(events: list[bytes]) -> str:
    return "".join(
        line.removeprefix("data: ")
        for chunk in events
        for line in chunk.decode().split("\n")
        if line.startswith("data: ")
    )


async def collect(stream_id, last_event_id: str = "0-0") -> list[bytes]:
    return [chunk async for chunk in streams.relay(stream_id, last_event_id=last_event_id)]


def test_one_reader_serves_many_streams_and_listeners_that_join_while_it_is_blocked(settings):
    async def scenario():
        ids = [uuid.uuid4() for _ in range(3)]
        first = asyncio.create_task(collect(ids[0]))
        await asyncio.sleep(0.2)  # the reader is now blocked in XREAD on the first stream only
        later = [asyncio.create_task(collect(stream_id)) for stream_id in ids[1:]]
        await asyncio.sleep(0.05)
        client = streams.redis_client()

        async def finish(number: int) -> None:
            await client.xadd(streams.stream_key(ids[number]), {"t": "delta", "x": f"reply {number}"})
            await client.xadd(
                streams.stream_key(ids[number]), streams.done_payload(status="complete", html_fragment="ok")
            )

        # The reader blocks for 30 s at a time: the later streams are read only because joining listeners woke it.
        await finish(1)
        await finish(2)
        await asyncio.wait_for(asyncio.gather(*later), timeout=5)
        await finish(0)
        results = await asyncio.wait_for(asyncio.gather(first, *later), timeout=5)
        reader = streams.reader()
        assert reader.listeners == {}, "a done entry releases its listeners"
        await client.delete(*(streams.stream_key(stream_id) for stream_id in ids))
        return results

    results = asyncio.run(scenario())
    for number, events in enumerate(results):
        assert entries_text(events).startswith(f"reply {number}")
        assert b"event: done" in events[-1]


def test_two_listeners_at_different_places_in_one_stream_each_get_only_what_follows_their_cursor(settings):
    async def scenario():
        stream_id = uuid.uuid4()
        client = streams.redis_client()
        key = streams.stream_key(stream_id)
        first_id = await client.xadd(key, {"t": "delta", "x": "one "})
        await client.xadd(key, {"t": "delta", "x": "two "})
        whole = asyncio.create_task(collect(stream_id))
        resumed = asyncio.create_task(collect(stream_id, last_event_id=first_id))
        await asyncio.sleep(0.1)
        await client.xadd(key, {"t": "delta", "x": "three"})
        await client.xadd(key, streams.done_payload(status="complete", html_fragment="fin"))
        results = await asyncio.wait_for(asyncio.gather(whole, resumed), timeout=5)
        await client.delete(key)
        return results

    whole, resumed = asyncio.run(scenario())
    assert entries_text(whole) == "one two threefin"
    assert entries_text(resumed) == "two threefin", "resuming neither repeats nor skips"


def test_the_outbox_coalesces_a_burst_of_tokens_and_keeps_their_order(settings):
    async def scenario():
        stream_id = uuid.uuid4()
        stopped = []
        publisher = streams.Publisher(stream_id, on_stop=lambda: stopped.append(True))
        for number in range(300):
            await publisher.add(f"{number} ")
        await publisher.finish(status="complete", html_fragment="done")
        entries = await streams.redis_client().xrange(streams.stream_key(stream_id))
        await streams.redis_client().delete(streams.stream_key(stream_id))
        return entries, stopped

    entries, stopped = asyncio.run(scenario())
    assert streams.delta_text(entries) == "".join(f"{number} " for number in range(300))
    assert entries[0][1]["x"] == "0 ", "the first token goes out alone, at once"
    assert len(entries) < 10, "tokens that arrive together share an entry"
    assert entries[-1][1] == {"t": "done", "s": "complete", "h": "done"}
    assert stopped == []


def test_the_outbox_ticks_less_often_the_more_replies_stream_from_it(settings):
    async def scenario():
        ids = [uuid.uuid4() for _ in range(40)]
        publishers = [streams.Publisher(stream_id, on_stop=lambda: None) for stream_id in ids]
        outbox = streams.outbox()
        ticks = {}
        for count in (40, 20, 15, 5, 1):
            for publisher in publishers[count:]:
                outbox.remove(publisher)
            ticks[count] = outbox.flush_seconds()
        for publisher in publishers[:1]:
            await publisher.drain()
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks[1] == ticks[5] == streams.FLUSH_SECONDS, "a few replies: every 20 ms"
    assert ticks[5] < ticks[15] < ticks[20], "more replies: longer ticks, fewer and larger entries each"
    assert ticks[40] == streams.MAX_FLUSH_SECONDS


def test_a_stop_flag_set_by_another_process_reaches_the_generation(settings):
    async def scenario():
        stream_id = uuid.uuid4()
        stopped = asyncio.Event()
        publisher = streams.Publisher(stream_id, on_stop=stopped.set)
        # As the Stop button handled by another web worker does: only the Redis flag.
        redis.Redis.from_url(settings.REDIS_URL).set(streams.stop_key(stream_id), "1", ex=60)
        await asyncio.wait_for(stopped.wait(), timeout=5)
        alive = await streams.redis_client().exists(streams.alive_key(stream_id))
        await publisher.finish(status="cancelled", html_fragment="")
        left = await streams.redis_client().exists(streams.stop_key(stream_id), streams.alive_key(stream_id))
        await streams.redis_client().delete(streams.stream_key(stream_id))
        return alive, left

    alive, left = asyncio.run(scenario())
    assert alive == 1, "a running generation is marked alive for the sweep"
    assert left == 0, "finishing clears the flags"
