"""Settings → Tools: the auto-approval rules and, per tool, allow / ask / deny."""

from __future__ import annotations

from django import forms

from accounts.forms import AutoApprovalSettingsForm
from chatbot.tools.policy import CHOICES
from chatbot.tools.registry import Tool

DEFAULT = ""
PREFIX = "tool__"


class ToolSettingsForm(AutoApprovalSettingsForm):
    """The rules of AutoApprovalSettingsForm plus one choice per tool offered, saved in `specific_tools`."""

    def __init__(self, *args, tools: dict[str, Tool], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.tools = tools
        saved = self.instance.specific_tools if isinstance(self.instance.specific_tools, dict) else {}
        self.fields["read_only_operations"].help_text = "Search, read a document, the date and time."
        self.fields["low_risk_operations"].help_text = "The calculator."
        self.fields[
            "require_approval_for_new_tools"
        ].help_text = "The first call of a tool you have never approved asks, whatever the rules above say."
        for name, tool in tools.items():
            default = "Follow the rules above" if tool.source == "built-in" else "Ask me (default)"
            self.fields[PREFIX + name] = forms.ChoiceField(
                label=tool.label or name,
                choices=((DEFAULT, default), *CHOICES),
                required=False,
                initial=saved.get(name, DEFAULT),
                help_text=f"{tool.risk_label} · {tool.source}",
            )

    def rule_fields(self) -> list:
        return [self[name] for name in self.fields if not name.startswith(PREFIX)]

    def tool_fields(self) -> list:
        return [self[name] for name in self.fields if name.startswith(PREFIX)]

    def save(self, commit: bool = True):
        saved = self.instance.specific_tools if isinstance(self.instance.specific_tools, dict) else {}
        # Tools not offered now (an MCP server down) keep their setting.
        specific = {name: value for name, value in saved.items() if name not in self.tools}
        for name in self.tools:
            value = self.cleaned_data.get(PREFIX + name) or DEFAULT
            if value != DEFAULT:
                specific[name] = value
        self.instance.specific_tools = specific
        return super().save(commit=commit)
