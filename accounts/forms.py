from __future__ import annotations

import functools
from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from accounts.models import MAX_SYSTEM_PROMPT_LENGTH, AutoApprovalSettings, Preferences, Provider, RetrievalSettings
from chatbot.netpolicy import BaseUrlRefused, check_user_base_url, user_base_urls_allowed
from chatbot.text import clean_text
from documents.models import Document


class PreferencesForm(forms.ModelForm):
    """Preferences; the default model and the models hidden from the composer's menu are picked among the models
    the user can use (keyed by provider and model), and a choice that is no longer offered is kept, not dropped."""

    default_model = forms.ChoiceField(
        required=False,
        help_text="New conversations start on it when you can use it; you can switch in the composer any time.",
    )
    hidden_models = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Hide from the model menu",
        help_text="Checked models are left out of the composer's menu (the one a conversation is on always shows).",
    )

    class Meta:
        model = Preferences
        fields = [
            "theme",
            "layout",
            "default_model",
            "default_system_prompt",
            "email_notifications",
            "prompt_suggestions",
            "show_tool_invocations",
            "conversation_previews",
            "multi_model_enabled",
            "hidden_models",
        ]
        # The counter (app.js) and the limit are a conversation's: a longer default could not be saved in a chat.
        widgets = {"default_system_prompt": forms.Textarea(attrs={"rows": 4, "data-limit": MAX_SYSTEM_PROMPT_LENGTH})}
        help_texts = {
            "default_system_prompt": "Instructions given to the model at the start of every new conversation.",
            "multi_model_enabled": "The composer offers “Compare with…”: two or three models answer one question "
            "side by side, and you continue with the answer you choose. Each answer counts as a message.",
            "email_notifications": "Emails about your account's security and data: a new API key added, a sign-in "
            "from a new device, your data export ready.",
        }
        labels = {"multi_model_enabled": "Side-by-side answers", "email_notifications": "Security emails"}

    def __init__(self, *args, user, **kwargs) -> None:
        from accounts.selectors import model_key, offered_models, resolve_model_choice
        from chatbot.llm.catalog import PROVIDERS

        super().__init__(*args, **kwargs)
        self.offered = offered_models(user=user)
        groups: dict[str, list[tuple[str, str]]] = {}
        for model in self.offered:
            groups.setdefault(PROVIDERS[model.provider].label, []).append(
                (model_key(model.provider, model.id), model.label)
            )
        grouped = list(groups.items())
        stored = self.instance.default_model
        # A bare model id (saved before models were keyed by provider) shows as the model it names.
        resolved = resolve_model_choice(user=user, value=stored, offered=self.offered) if stored else None
        current = model_key(*resolved) if resolved else stored
        default_choices = [("", "Automatic: the first model you can use"), ("offline:offline", "Offline assistant")]
        if current and current not in {key for _, options in grouped for key, _ in options} | {"offline:offline"}:
            default_choices.append((current, f"{stored} (not available now)"))
        self.fields["default_model"].choices = default_choices + grouped
        self.initial["default_model"] = current
        self.fields["hidden_models"].choices = grouped
        offered_keys = {key for _, options in grouped for key, _ in options}
        # Hidden models the user cannot use now (a key removed) stay hidden when the form is saved.
        self.kept_hidden = [key for key in (self.instance.hidden_models or []) if key not in offered_keys]

    def clean_default_system_prompt(self) -> str:
        prompt = clean_text(self.cleaned_data.get("default_system_prompt", "")).strip()
        if len(prompt) > MAX_SYSTEM_PROMPT_LENGTH:
            raise forms.ValidationError(
                f"That system prompt is too long ({len(prompt):,} characters; the limit is "
                f"{MAX_SYSTEM_PROMPT_LENGTH:,}). Nothing was saved."
            )
        return prompt

    def clean_hidden_models(self) -> list[str]:
        return [*self.cleaned_data.get("hidden_models", []), *self.kept_hidden][:500]

    def main_fields(self) -> list:
        return [field for field in self if field.name != "hidden_models"]

    def hidden_model_groups(self) -> list[tuple[str, list]]:
        """The checkboxes of hidden_models under their provider, for one fieldset each."""
        options = iter(self["hidden_models"])
        return [(label, [next(options) for _ in choices]) for label, choices in self.fields["hidden_models"].choices]


MAX_TITLE_LENGTH = Document._meta.get_field("title").max_length  # a title longer than a document's names none
MAX_TITLES_LENGTH = 50 * (MAX_TITLE_LENGTH + 2)  # 50 titles and their commas
# Each field says one thing of the app's own when refused: the model field's bounds (0 to 32767) and Django's
# wording ("Ensure this value is less than or equal to 32767.") showed beside "Between 1 and 50 passages.".
PASSAGES_MESSAGE = "Between 1 and 50 passages."
SIMILARITY_MESSAGE = "A similarity between 0 and 1."
TITLES_TOO_LONG = f"The list can be {MAX_TITLES_LENGTH:,} characters long at most; this one has %(show_value)s."


TITLE_MAX_COMMAS = 8  # in a title the lists below keep whole


def _normalised(title: str) -> str:
    return " ".join(title.split())


class RetrievalSettingsForm(forms.ModelForm):
    preferred_sources = forms.CharField(
        required=False,
        max_length=MAX_TITLES_LENGTH,
        help_text="Document titles to rank first, comma-separated.",
        widget=forms.TextInput,
        error_messages={"max_length": TITLES_TOO_LONG},
    )
    excluded_sources = forms.CharField(
        required=False,
        max_length=MAX_TITLES_LENGTH,
        help_text="Document titles never to use, comma-separated. Write 'shared' to leave out the shared library.",
        widget=forms.TextInput,
        error_messages={"max_length": TITLES_TOO_LONG},
    )

    class Meta:
        model = RetrievalSettings
        fields = ["enabled", "max_results", "similarity_threshold", "preferred_sources", "excluded_sources"]
        labels = {"enabled": "Use my documents to answer"}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("preferred_sources", "excluded_sources"):
            self.initial[name] = ", ".join(getattr(self.instance, name) or [])
        for name, low, high, message in (
            ("max_results", 1, 50, PASSAGES_MESSAGE),
            ("similarity_threshold", 0, 1, SIMILARITY_MESSAGE),
        ):
            # The form checks the app's bounds: a refused value never reaches the model's own checks.
            field = self.fields[name]
            field.validators = [MinValueValidator(low), MaxValueValidator(high)]
            field.error_messages.update(min_value=message, max_value=message, invalid=message)
            field.widget.attrs.update(min=low, max=high)
        self.fields["similarity_threshold"].widget.attrs.update(step="0.05")

    def _split(self, name: str) -> list[str]:
        """At most 50 titles, each as long as a document's title can be (a longer one names no document).

        Commas separate titles, except inside a title of one of the user's documents: SQLite's "Quirks, Caveats,
        and Gotchas In SQLite" was cut into three titles that named nothing, and could be neither preferred nor
        excluded (retrieval matches a title exactly).
        """
        pieces = clean_text(self.cleaned_data.get(name, "")).split(",")
        titles, start = [], 0
        while start < len(pieces):
            # The longest run of pieces from here that is a title with commas (a few commas at most: bounded).
            end = next(
                (
                    end
                    for end in range(min(len(pieces), start + TITLE_MAX_COMMAS + 1), start + 1, -1)
                    if _normalised(",".join(pieces[start:end])) in self._titles_with_commas
                ),
                start + 1,
            )
            typed = ",".join(pieces[start:end]).strip()
            titles.append(self._titles_with_commas.get(_normalised(typed), typed))
            start = end
        return [title[:MAX_TITLE_LENGTH] for title in titles if title][:50]

    @functools.cached_property
    def _titles_with_commas(self) -> dict[str, str]:
        """The user's document titles that hold a comma, by their words (spaces as typed do not matter)."""
        from documents.selectors import readable_documents

        documents = readable_documents(user=self.instance.user).filter(title__contains=",")
        return {_normalised(title): title for title in documents.values_list("title", flat=True)[:1000]}

    def clean_preferred_sources(self) -> list[str]:
        return self._split("preferred_sources")

    def clean_excluded_sources(self) -> list[str]:
        return self._split("excluded_sources")


COST_FIELDS = ("max_cost_per_tool", "max_cost_per_hour")


class AutoApprovalSettingsForm(forms.ModelForm):
    class Meta:
        model = AutoApprovalSettings
        fields = [
            "read_only_operations",
            "low_risk_operations",
            "require_approval_for_new_tools",
            "max_cost_per_tool",
            "max_cost_per_hour",
        ]
        # The limits are dollars, which the model's field names did not say ("Max cost per tool: 1.0000").
        labels = {"max_cost_per_tool": "Cost limit per call (US$)", "max_cost_per_hour": "Cost limit per hour (US$)"}
        help_texts = {
            "max_cost_per_tool": "A call estimated to cost more asks you first, even for a tool set to always allow.",
            "max_cost_per_hour": "A call that would take the last hour's tool spending past this is refused.",
        }
        widgets = {name: forms.NumberInput(attrs={"step": "0.01", "min": "0"}) for name in COST_FIELDS}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in COST_FIELDS:  # shown as money ("1.00"), not to the column's four places ("1.0000")
            value = self.initial.get(name)
            if isinstance(value, Decimal) and value == value.quantize(Decimal("0.01")):
                self.initial[name] = value.quantize(Decimal("0.01"))

    def clean(self) -> dict:
        data = super().clean()
        per_tool, per_hour = data.get("max_cost_per_tool"), data.get("max_cost_per_hour")
        for name, value in (("max_cost_per_tool", per_tool), ("max_cost_per_hour", per_hour)):
            if value is not None and value < 0:
                self.add_error(name, "A cost limit cannot be negative.")
        if per_tool is not None and per_hour is not None and per_tool > per_hour:
            self.add_error("max_cost_per_tool", "The limit per call cannot exceed the limit per hour.")
        return data


class ProviderKeyForm(forms.Form):
    """A user's key for one provider. The base URL field exists only when the operator allows users to set one
    (ALLOW_USER_BASE_URLS), and what it points at must pass the network policy (chatbot/netpolicy.py). Ollama
    needs no key, only the address of the user's own server, so it is offered only with base URLs allowed."""

    provider = forms.ChoiceField(choices=Provider.choices)
    api_key = forms.CharField(
        label="API key",
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Stored encrypted. You will see only its last four characters again.",
    )
    base_url = forms.URLField(
        label="Base URL (optional)",
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text="Another endpoint speaking the provider's API: a proxy, or an OpenAI-compatible server (vLLM, "
        "LM Studio, OpenRouter, LiteLLM) under the OpenAI provider. Required for Ollama. Addresses inside this "
        "server's network are refused.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not user_base_urls_allowed():
            del self.fields["base_url"]
            self.fields["provider"].choices = [c for c in Provider.choices if c[0] != Provider.OLLAMA]
        else:
            self.fields["api_key"].help_text += " Ollama needs none unless your server asks for one."

    def clean_api_key(self) -> str:
        key = self.cleaned_data["api_key"]
        if key and (len(key) < 12 or any(c.isspace() for c in key)):
            raise forms.ValidationError("That does not look like an API key (too short, or contains spaces).")
        return key

    def clean_base_url(self) -> str:
        url = self.cleaned_data.get("base_url") or ""
        if not url:
            return ""
        try:
            return check_user_base_url(url)
        except BaseUrlRefused as exc:
            raise forms.ValidationError(exc.reason) from exc

    def clean(self) -> dict:
        data = super().clean()
        provider = data.get("provider")
        if provider == Provider.OLLAMA:
            if "base_url" in self.fields and not data.get("base_url") and "base_url" not in self.errors:
                self.add_error("base_url", "Ollama needs the address of your Ollama server.")
        elif provider and not data.get("api_key") and "api_key" not in self.errors:
            self.add_error("api_key", "This field is required.")
        return data


class DeleteAccountForm(forms.Form):
    confirm = forms.CharField(label='Type "delete my account" to confirm', max_length=40)

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"].strip().lower() != "delete my account":
            raise forms.ValidationError('Please type "delete my account" exactly.')
        return self.cleaned_data["confirm"]
