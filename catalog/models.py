"""The model catalogue (issue 14): which models are offered, what each costs and can do.

Seeded from chatbot/llm/catalog.py by a data migration, then the operator's to edit in the admin. Ollama's models
are not stored: its server lists them (`/api/tags`); a row for one of them (provider Ollama) overrides its name,
context window or prices, or hides it when disabled.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import models
from django.utils import timezone

from accounts.models import Provider
from chatbot.db import choices_check

MILLION = Decimal(1_000_000)
# Costs are kept to the millionth of a dollar: a short reply on a cheap model costs a few hundred millionths,
# which four places (the seed's DECIMAL(10,4)) would round to nothing or double.
COST_PLACES = Decimal("0.000001")
DEFAULT_CONTEXT_WINDOW = 8192  # tokens, when the catalogue does not know a model's window: the conversations' default


class ChatModel(models.Model):
    provider = models.CharField(max_length=20, choices=Provider.choices)
    model_id = models.CharField("model id", max_length=100, help_text="Exactly as the provider's API names it.")
    display_name = models.CharField(max_length=200)
    context_window = models.PositiveIntegerField(
        null=True, blank=True, help_text=f"In tokens. Empty: unknown ({DEFAULT_CONTEXT_WINDOW:,} assumed)."
    )
    input_price = models.DecimalField(
        "input price", max_digits=10, decimal_places=4, null=True, blank=True,
        help_text="US dollars per million input tokens. Empty: unknown (replies are logged without a cost).",
    )  # fmt: skip
    output_price = models.DecimalField(
        "output price", max_digits=10, decimal_places=4, null=True, blank=True,
        help_text="US dollars per million output tokens. Empty: unknown.",
    )  # fmt: skip
    # Some providers bill a whole request at higher rates once its prompt passes a size (Gemini Pro over 200k
    # tokens, GPT-5.5 over 272k, Claude Haiku 5.5 over 100k).
    long_context_threshold = models.PositiveIntegerField(
        null=True, blank=True, help_text="Prompts over this many tokens are billed at the long-context prices."
    )
    long_input_price = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True, help_text="Per million input tokens, long prompts."
    )
    long_output_price = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True, help_text="Per million output tokens, long prompts."
    )
    supports_vision = models.BooleanField("vision", default=False, help_text="Reads images.")
    supports_documents = models.BooleanField("documents", default=False, help_text="Reads PDF or other files.")
    supports_tools = models.BooleanField("tools", default=False, help_text="Calls tools (functions).")
    supports_reasoning = models.BooleanField("reasoning", default=False, help_text="Thinks before answering.")
    enabled = models.BooleanField(default=True, help_text="Offered to users who have a key for its provider.")
    position = models.PositiveSmallIntegerField(default=100, help_text="Order within its provider in the menus.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "model_catalog"
        verbose_name = "model"
        verbose_name_plural = "model catalogue"
        ordering = ["provider", "position", "display_name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_id"], name="model_catalog_provider_model_uniq"),
            choices_check("provider", Provider, "model_catalog_provider_valid"),
            models.CheckConstraint(
                condition=models.Q(input_price__gte=0) | models.Q(input_price__isnull=True),
                name="model_catalog_input_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(output_price__gte=0) | models.Q(output_price__isnull=True),
                name="model_catalog_output_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(long_input_price__gte=0) | models.Q(long_input_price__isnull=True),
                name="model_catalog_long_input_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(long_output_price__gte=0) | models.Q(long_output_price__isnull=True),
                name="model_catalog_long_output_price_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(context_window__gt=0) | models.Q(context_window__isnull=True),
                name="model_catalog_context_window_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.get_provider_display()})"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        long_prices = (self.long_input_price, self.long_output_price)
        if self.long_context_threshold is not None and None in long_prices:
            raise ValidationError("A long-context threshold needs both long-context prices.")
        if self.long_context_threshold is None and any(price is not None for price in long_prices):
            raise ValidationError({"long_context_threshold": "Long-context prices apply past a threshold: set it."})

    @property
    def priced(self) -> bool:
        return self.input_price is not None and self.output_price is not None

    def cost(self, *, input_tokens: int, output_tokens: int) -> Decimal | None:
        """What a call with this usage costs, in dollars to the millionth; None when the price is unknown.

        Past the long-context threshold the whole request is billed at the long-context prices, as the providers
        that have such a tier bill it.
        """
        if not self.priced:
            return None
        input_price, output_price = self.input_price, self.output_price
        if (
            self.long_context_threshold is not None
            and input_tokens > self.long_context_threshold
            and self.long_input_price is not None
            and self.long_output_price is not None
        ):
            input_price, output_price = self.long_input_price, self.long_output_price
        total = (Decimal(input_tokens) * input_price + Decimal(output_tokens) * output_price) / MILLION
        return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


class UsageDashboard(models.Model):
    """Not a table: the admin's usage dashboard (per user, per model, per day, top spenders) hangs from it, so it
    is listed on the admin index and has a permission of its own to give to staff."""

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "usage dashboard"
        verbose_name_plural = "usage dashboard"

    def __str__(self) -> str:
        return "usage dashboard"
