"""The app's own time per tool round: a reply that calls a read-only tool three times before answering.

    .venv/bin/python -m chatbot.embedded exec -- .venv/bin/python bench/tool_rounds.py [--replies 30]

Each reply runs the whole generation path (conversations.generation.run_generation: the anthropic SDK against
tests/fake_anthropic.py, Redis streams, PostgreSQL) with the user's rules auto-approving read-only tools; the model
asks for current_datetime three times, then answers. A round's app time is measured at the fake: from the end of
the response that asked for the call to the arrival of the next request, which carries its result. So it holds
everything the app does for a round (the stream's end read, the ToolExecution rows and the policy's queries, the
tool run, the cards rendered and sent to Redis, the next request built and sent) and none of the fake's time.
Printed: p50 and p95 over every round, with the machine's load and a reference loop's time (this VM's speed
drifts). A scratch database is created and dropped; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time

from common import load_average, percentile, reference_loop_ms, scratch_database

ROUNDS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=30)
    args = parser.parse_args()

    import tests.fake_tools as fake_tools
    from tests.fake_anthropic import FakeAnthropic

    fake = FakeAnthropic().start()
    os.environ["ANTHROPIC_BASE_URL"] = fake.url
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-bench-tool-rounds"
    arrivals: list[float] = []
    ends: list[float] = []
    original = fake_tools.stream_anthropic_step

    def timed(handler, body, step):
        arrivals.append(time.perf_counter())
        original(handler, body, step)
        ends.append(time.perf_counter())

    fake_tools.stream_anthropic_step = timed
    try:
        with scratch_database("bench_tools"):
            rounds = run(fake, arrivals, ends, args.replies)
    finally:
        fake.stop()
    print(f"{args.replies} replies x {ROUNDS} tool rounds (current_datetime, auto-approved), load {load_average()}")
    print(f"  app time per round: p50 {percentile(rounds, 50):.1f} ms, p95 {percentile(rounds, 95):.1f} ms")
    print(f"  reference loop: {reference_loop_ms():.0f} ms")


def run(fake, arrivals: list[float], ends: list[float], replies: int) -> list[float]:
    from accounts.models import AutoApprovalSettings
    from chatbot.tools.waiting import resume_blocking
    from conversations.models import Message
    from conversations.services import message_send
    from tests.factories import ConversationFactory, UserFactory

    user = UserFactory()
    AutoApprovalSettings.objects.create(user=user, read_only_operations=True, require_approval_for_new_tools=False)
    call = {"name": "current_datetime", "input": {"timezone": "Europe/Paris"}}
    samples: list[float] = []
    for number in range(replies + 1):  # the first reply warms up (imports, connections) and is not counted
        arrivals.clear()
        ends.clear()
        fake.tool_script[:] = [{"calls": [call]} for _ in range(ROUNDS)] + [{"text": "It is late in Paris."}]
        conversation = ConversationFactory(user=user, provider="anthropic", model="claude-sonnet-5-5")
        generation = message_send(user=user, conversation_id=conversation.id, content="What time is it in Paris?")
        resume_blocking(generation.stream.id)
        reply = Message.objects.get(id=generation.assistant_message.id)
        if reply.status != "complete" or len(arrivals) != ROUNDS + 1:
            raise SystemExit(f"reply {number} did not run its rounds: {reply.status} {reply.error}")
        if number:
            samples += [(arrivals[i + 1] - ends[i]) * 1000 for i in range(ROUNDS)]
    return samples


if __name__ == "__main__":
    main()
