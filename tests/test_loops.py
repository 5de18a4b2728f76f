"""Objects made per event loop: a short-lived loop's connection pools are closed, and the loop forgotten, when it
ends (the test client's async views and the synchronous helpers each run one)."""

from __future__ import annotations

import asyncio

from chatbot import loops
from chatbot.llm import http


def test_a_loop_that_ends_closes_its_connection_pools_and_is_forgotten():
    made = {}

    async def use_pools() -> None:
        made["session"] = http.aiohttp_session(guarded=False)
        made["openai"] = http.openai_http_client(guarded=True)
        made["again"] = http.aiohttp_session(guarded=False)  # the same pool, one cleanup
        made["loop"] = asyncio.get_running_loop()
        await asyncio.sleep(0)

    asyncio.run(use_pools())
    assert made["again"] is made["session"]
    assert made["session"].closed, "aiohttp warned 'Unclosed client session' at exit"
    assert made["openai"].is_closed
    assert not [key for key, entry in loops._per_loop.items() if entry[0] is made["loop"]]


def test_a_cleanup_that_fails_does_not_stop_the_others(caplog):
    ran = []

    async def failing() -> None:
        raise RuntimeError("boom")

    async def second() -> None:
        ran.append("second")

    async def register() -> None:
        loops.on_loop_end(failing)
        loops.on_loop_end(second)
        loops.on_loop_end(second)  # once, however often it is asked for

    asyncio.run(register())
    assert ran == ["second"]
    assert "cleanup at the end of an event loop failed" in caplog.text
