"""The approval policy (chatbot/tools/policy.py): every setting of Settings → Tools changes a decision."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AutoApprovalSettings
from chatbot.tools.policy import ASK, DENY, RUN, Rules, decide, decision_for, rules_from
from chatbot.tools.registry import builtin_tools
from tests.factories import ConversationFactory, ToolExecutionFactory, UserFactory

TOOLS = builtin_tools()
SEARCH, CALC, CREATE, SUGGEST = (TOOLS[n] for n in ("search_documents", "calculator", "create_document",
                                                    "request_suggestions"))  # fmt: skip
OPEN = Rules(read_only_operations=True, low_risk_operations=True, require_approval_for_new_tools=False)


def verdict(tool, rules=OPEN, spent="0", approved_before=True) -> str:
    return decide(tool=tool, rules=rules, spent_last_hour=Decimal(spent), approved_before=approved_before).verdict


def test_the_defaults_ask_for_everything():
    assert {verdict(tool, Rules(), approved_before=False) for tool in TOOLS.values()} == {ASK}


def test_read_only_operations_runs_read_only_tools_only():
    rules = Rules(read_only_operations=True, require_approval_for_new_tools=False)
    assert verdict(SEARCH, rules) == RUN
    assert verdict(CALC, rules) == ASK
    assert verdict(CREATE, rules) == ASK
    assert verdict(SEARCH, replace(rules, read_only_operations=False)) == ASK


def test_low_risk_operations_runs_low_risk_tools_only():
    rules = Rules(low_risk_operations=True, require_approval_for_new_tools=False)
    assert verdict(CALC, rules) == RUN
    assert verdict(SEARCH, rules) == ASK
    assert verdict(CREATE, rules) == ASK


def test_a_write_tool_always_asks_unless_allowed_by_name():
    assert verdict(CREATE, OPEN) == ASK
    assert verdict(CREATE, replace(OPEN, tools={"create_document": "allow"})) == RUN


def test_per_tool_allow_ask_and_deny_win_over_the_risk_rules():
    assert verdict(SEARCH, replace(OPEN, tools={"search_documents": "ask"})) == ASK
    assert verdict(SEARCH, replace(OPEN, tools={"search_documents": "deny"})) == DENY
    assert verdict(CALC, replace(Rules(), tools={"calculator": "allow"}), approved_before=False) == RUN


def test_new_tools_need_approval_once():
    rules = replace(OPEN, require_approval_for_new_tools=True)
    assert verdict(SEARCH, rules, approved_before=False) == ASK
    assert verdict(SEARCH, rules, approved_before=True) == RUN
    assert verdict(SEARCH, replace(rules, require_approval_for_new_tools=False), approved_before=False) == RUN


def test_max_cost_per_tool_asks_for_a_dearer_call_even_when_allowed():
    allowed = replace(OPEN, tools={"request_suggestions": "allow"})
    assert verdict(SUGGEST, allowed) == RUN  # estimated 0.05, limit 1.00
    decision = decide(tool=SUGGEST, rules=replace(allowed, max_cost_per_tool=Decimal("0.01")),
                      spent_last_hour=Decimal(0), approved_before=True)  # fmt: skip
    assert decision.verdict == ASK and "above your limit of $0.01 per tool" in decision.reason


def test_the_hourly_cap_refuses_with_a_limit_message():
    allowed = replace(OPEN, tools={"request_suggestions": "allow"}, max_cost_per_hour=Decimal("1.00"))
    assert verdict(SUGGEST, allowed, spent="0.90") == RUN
    decision = decide(tool=SUGGEST, rules=allowed, spent_last_hour=Decimal("0.97"), approved_before=True)
    assert decision.verdict == DENY and decision.limit
    assert "hourly limit on tool costs ($1.00) is reached" in decision.reason
    assert verdict(SEARCH, allowed, spent="5") == RUN, "a free call is never stopped by the cap"


def test_the_conversations_overrides_win_over_the_users_settings(db):
    settings = AutoApprovalSettings(read_only_operations=True, require_approval_for_new_tools=False,
                                    specific_tools={"calculator": "deny"})  # fmt: skip
    assert verdict(SEARCH, rules_from(settings)) == RUN
    assert verdict(SEARCH, rules_from(settings, {"read_only_operations": False})) == ASK
    assert verdict(CALC, rules_from(settings)) == DENY
    assert verdict(CALC, rules_from(settings, {"tools": {"calculator": "allow"}})) == RUN
    assert verdict(CREATE, rules_from(settings, {"tools": {"create_document": "allow"}})) == RUN
    assert verdict(CALC, rules_from(settings, {"tools": {"calculator": "bogus"}})) == DENY, "junk is ignored"


# --- Through the page: each setting saved on Settings → Tools changes what decision_for answers -------------------

BASE = {"max_cost_per_tool": "1.00", "max_cost_per_hour": "10.00"}


def save(client, **fields) -> None:
    response = client.post(reverse("accounts:tools"), {**BASE, **fields})
    assert response.status_code == 302, response.content.decode()[:2000]


def decided(user, tool, overrides=None) -> str:
    return decision_for(user=user, tool=tool, overrides=overrides).verdict


@pytest.mark.parametrize(
    ("tool", "before", "after"),
    [
        (SEARCH, {}, {"read_only_operations": "on"}),
        (CALC, {}, {"low_risk_operations": "on"}),
        (CREATE, {}, {"tool__create_document": "allow"}),
    ],
)
def test_each_rule_on_the_page_turns_a_question_into_a_run(user_client, user, tool, before, after):
    save(user_client, **before)
    assert decided(user, tool) == ASK
    save(user_client, **after)
    assert decided(user, tool) == RUN


def test_never_allow_on_the_page_refuses(user_client, user):
    save(user_client, read_only_operations="on")
    assert decided(user, SEARCH) == RUN
    save(user_client, read_only_operations="on", tool__search_documents="deny")
    assert decided(user, SEARCH) == DENY
    save(user_client, read_only_operations="on", tool__search_documents="ask")
    assert decided(user, SEARCH) == ASK
    assert AutoApprovalSettings.objects.get(user=user).specific_tools == {"search_documents": "ask"}
    save(user_client, read_only_operations="on", tool__search_documents="")
    assert AutoApprovalSettings.objects.get(user=user).specific_tools == {}


def test_require_approval_for_new_tools_on_the_page(user_client, user):
    save(user_client, read_only_operations="on", require_approval_for_new_tools="on")
    assert decided(user, SEARCH) == ASK
    conversation = ConversationFactory(user=user)
    from django.utils import timezone

    ToolExecutionFactory(message__conversation=conversation, conversation=conversation, tool_name="search_documents",
                         status="completed", approved_at=timezone.now())  # fmt: skip
    assert decided(user, SEARCH) == RUN, "approved once: no longer new"
    assert decided(UserFactory(), SEARCH) == ASK, "another user's approvals do not count"


def test_the_cost_limits_on_the_page(user_client, user):
    save(user_client, tool__request_suggestions="allow")
    assert decided(user, SUGGEST) == RUN
    save(user_client, tool__request_suggestions="allow", max_cost_per_tool="0.01")
    assert decided(user, SUGGEST) == ASK
    save(user_client, tool__request_suggestions="allow", max_cost_per_tool="0.05", max_cost_per_hour="0.10")
    assert decided(user, SUGGEST) == RUN
    conversation = ConversationFactory(user=user)
    ToolExecutionFactory(message__conversation=conversation, conversation=conversation, cost=Decimal("0.08"))
    assert decided(user, SUGGEST) == DENY, "0.08 spent in the last hour + 0.05 > 0.10"
    other = ConversationFactory()
    ToolExecutionFactory(message__conversation=other, conversation=other, cost=Decimal("5"))
    assert decided(other.user, SEARCH) == ASK


def test_the_page_lists_every_tool_with_its_choice(user_client, user):
    save(user_client, tool__calculator="deny")
    page = user_client.get(reverse("accounts:tools")).content.decode()
    for name in TOOLS:
        assert f'name="tool__{name}"' in page
    assert '<option value="deny" selected>Never allow</option>' in page
    assert "tool activity" in page


def test_a_guest_cannot_open_the_tools_page(client, db):
    from tests.factories import GuestFactory

    client.force_login(GuestFactory())
    assert client.get(reverse("accounts:tools")).status_code in (302, 403)


def test_a_decision_names_where_its_setting_was_made_in_the_words_of_that_page():
    """The settings menu calls the page "Tool approval" (it was "Settings → Tools" on the cards); a chat's own
    choice is said to be this chat's."""

    def reason(rules) -> str:
        return decide(tool=SEARCH, rules=rules, spent_last_hour=Decimal("0"), approved_before=True).reason

    settings = AutoApprovalSettings(specific_tools={"search_documents": "deny"})
    assert reason(rules_from(settings)) == "search_documents is set to never run in Settings → Tool approval."
    assert reason(rules_from(settings, {"tools": {"search_documents": "allow"}})) == "Always allowed for this chat."
    assert reason(rules_from(settings, {"tools": {"search_documents": "ask"}})) == "Set to ask for this chat."
    assert reason(replace(OPEN, tools={"search_documents": "ask"})) == "Set to ask in Settings → Tool approval."
