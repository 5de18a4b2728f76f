"""Whether a tool call runs at once, waits for the user, or is refused: the user's Settings → Tool approval
(AutoApprovalSettings) with the conversation's own overrides (Conversation.auto_approval).

The order, first match wins:
1. the tool set to deny (in the conversation, else in the user's settings): refused;
2. the hourly cost cap: a call whose estimated cost would take the last hour's tool spending past
   max_cost_per_hour is refused (a limit, said in the bubble), whatever else says;
3. a call estimated above max_cost_per_tool: asks, even for a tool set to allow;
4. the tool set to allow: runs; set to ask: asks;
5. a tool never approved before, with require_approval_for_new_tools on: asks;
6. a read-only tool with read_only_operations on, a low-risk one with low_risk_operations on: runs;
7. anything else (writes, MCP tools by default): asks.

Conversation.auto_approval may hold {"tools": {name: "allow" | "ask" | "deny"}, "read_only_operations": bool,
"low_risk_operations": bool, "require_approval_for_new_tools": bool}; what it holds wins over the user's settings.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from chatbot.tools.registry import LOW_RISK, READ_ONLY, Tool

ALLOW, ASK, DENY = "allow", "ask", "deny"
CHOICES = ((ASK, "Ask me"), (ALLOW, "Always allow"), (DENY, "Never allow"))
RUN = "run"  # a decision's verdict: RUN, ASK or DENY
HOUR = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Rules:
    """The settings that apply to one conversation: the user's, with the conversation's overrides laid over."""

    read_only_operations: bool = False
    low_risk_operations: bool = False
    require_approval_for_new_tools: bool = True
    tools: dict | None = None  # name -> ALLOW / ASK / DENY
    chat_tools: frozenset[str] = frozenset()  # the names whose setting is the conversation's own, not the user's
    max_cost_per_tool: Decimal = Decimal("1.00")
    max_cost_per_hour: Decimal = Decimal("10.00")

    def setting(self, name: str) -> str:
        value = (self.tools or {}).get(name)
        return value if value in (ALLOW, ASK, DENY) else ""

    def set_where(self, name: str) -> str:
        """Where the tool's setting was made, in the words of the page that makes it (the card says it)."""
        return "for this chat" if name in self.chat_tools else "in Settings → Tool approval"


@dataclass(frozen=True)
class Decision:
    verdict: str  # RUN, ASK or DENY
    reason: str  # said on the card (and to the model, for a refusal)
    limit: bool = False  # refused by a limit (the hourly cap), not by a setting


def rules_from(settings, overrides: dict | None = None) -> Rules:
    """`settings`: an AutoApprovalSettings (saved or default); `overrides`: Conversation.auto_approval."""
    overrides = overrides if isinstance(overrides, dict) else {}
    tools = dict(settings.specific_tools) if isinstance(settings.specific_tools, dict) else {}
    chat_tools = {}
    if isinstance(overrides.get("tools"), dict):
        chat_tools = {k: v for k, v in overrides["tools"].items() if v in (ALLOW, ASK, DENY)}
        tools.update(chat_tools)

    def flag(name: str) -> bool:
        value = overrides.get(name)
        return value if isinstance(value, bool) else bool(getattr(settings, name))

    return Rules(
        read_only_operations=flag("read_only_operations"),
        low_risk_operations=flag("low_risk_operations"),
        require_approval_for_new_tools=flag("require_approval_for_new_tools"),
        tools=tools,
        chat_tools=frozenset(chat_tools),
        max_cost_per_tool=settings.max_cost_per_tool,
        max_cost_per_hour=settings.max_cost_per_hour,
    )


def decide(*, tool: Tool, rules: Rules, spent_last_hour: Decimal, approved_before: bool) -> Decision:
    """The verdict for one call of `tool` (pure: the caller reads the spending and the history)."""
    setting = rules.setting(tool.name)
    if setting == DENY:
        return Decision(DENY, f"{tool.name} is set to never run {rules.set_where(tool.name)}.")
    cost = tool.estimated_cost or Decimal("0")
    if cost and spent_last_hour + cost > rules.max_cost_per_hour:
        return Decision(
            DENY,
            f"The hourly limit on tool costs (${rules.max_cost_per_hour}) is reached: ${spent_last_hour} spent in "
            f"the last hour, and this call may cost ${cost}.",
            limit=True,
        )
    if cost > rules.max_cost_per_tool:
        return Decision(ASK, f"This call may cost ${cost}, above your limit of ${rules.max_cost_per_tool} per tool.")
    if setting == ALLOW:
        return Decision(RUN, f"Always allowed {rules.set_where(tool.name)}.")
    if setting == ASK:
        return Decision(ASK, f"Set to ask {rules.set_where(tool.name)}.")
    if rules.require_approval_for_new_tools and not approved_before:
        return Decision(ASK, "A tool used for the first time needs your approval.")
    if tool.risk == READ_ONLY and rules.read_only_operations:
        return Decision(RUN, "Read-only tools run without asking.")
    if tool.risk == LOW_RISK and rules.low_risk_operations:
        return Decision(RUN, "Low-risk tools run without asking.")
    return Decision(ASK, f"{tool.risk_label} tools need your approval.")


# --- Reading what a decision needs from the database -------------------------------------------------------------


def spent_last_hour(*, user_id, now: dt.datetime | None = None) -> Decimal:
    """What the user's tool calls cost in the rolling last hour (calls not finished count their estimate)."""
    from django.db.models import Sum
    from django.utils import timezone

    from conversations.models import ToolExecution

    since = (now or timezone.now()) - HOUR
    total = ToolExecution.objects.filter(conversation__user_id=user_id, created_at__gte=since).aggregate(
        total=Sum("cost")
    )["total"]
    return total or Decimal("0")


def approved_before(*, user_id, tool_name: str) -> bool:
    from conversations.models import ToolExecution

    return ToolExecution.objects.filter(
        conversation__user_id=user_id, tool_name=tool_name, approved_at__isnull=False
    ).exists()


def user_rules(*, user, overrides: dict | None = None) -> Rules:
    from accounts.models import AutoApprovalSettings

    settings = AutoApprovalSettings.objects.filter(user=user).first() or AutoApprovalSettings(user=user)
    return rules_from(settings, overrides)


def decision_for(*, user, tool: Tool, overrides: dict | None = None) -> Decision:
    return decide(
        tool=tool,
        rules=user_rules(user=user, overrides=overrides),
        spent_last_hour=spent_last_hour(user_id=user.pk),
        approved_before=approved_before(user_id=user.pk, tool_name=tool.name),
    )
