"""A conversation's own tool choices (Conversation.auto_approval["tools"]): per tool allow / ask / deny, or as in
the user's Settings → Tools. chatbot/tools/policy.py lays them over the user's settings."""

from __future__ import annotations

from django import forms

from chatbot.tools.policy import ALLOW, ASK, CHOICES, DENY
from chatbot.tools.registry import Tool

AS_SETTINGS = ""
PREFIX = "tool__"
_LABELS = dict(CHOICES)


class ConversationToolsForm(forms.Form):
    """One choice per tool offered now; a name the registry does not know is not a field, so it is never saved."""

    def __init__(self, *args, tools: dict[str, Tool], overrides: dict | None, user_tools: dict | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tools = tools
        saved = _tool_choices(overrides)
        user_tools = user_tools if isinstance(user_tools, dict) else {}
        for name, tool in tools.items():
            # Said beside the default, so "as in my settings" is not a guess.
            yours = _LABELS.get(user_tools.get(name), "follow the rules" if tool.source == "built-in" else "ask me")
            self.fields[PREFIX + name] = forms.ChoiceField(
                label=tool.label or name,
                choices=((AS_SETTINGS, f"As in my settings ({yours.lower()})"), *CHOICES),
                required=False,
                initial=saved.get(name, AS_SETTINGS),
                help_text=f"{tool.risk_label} · {tool.source}",
            )

    def choices(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(PREFIX + name) or AS_SETTINGS for name in self.tools}


def _tool_choices(overrides: object) -> dict[str, str]:
    tools = overrides.get("tools") if isinstance(overrides, dict) else None
    return {k: v for k, v in tools.items() if v in (ALLOW, ASK, DENY)} if isinstance(tools, dict) else {}


def conversation_tools_set(*, conversation, choices: dict[str, str], tools: dict[str, Tool]) -> dict:
    """Save the conversation's choices for the tools offered now. A tool not offered now (its MCP server down)
    keeps its choice; AS_SETTINGS removes a tool's override; the other keys of auto_approval are kept."""
    overrides = dict(conversation.auto_approval) if isinstance(conversation.auto_approval, dict) else {}
    kept = {name: value for name, value in _tool_choices(overrides).items() if name not in tools}
    for name, value in choices.items():
        if name in tools and value in (ALLOW, ASK, DENY):
            kept[name] = value
    if kept:
        overrides["tools"] = kept
    else:
        overrides.pop("tools", None)
    conversation.auto_approval = overrides
    conversation.save(update_fields=["auto_approval"])  # not activity: the chat keeps its place in the sidebar
    return overrides
