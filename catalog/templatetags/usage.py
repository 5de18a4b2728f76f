"""Money and token counts as the usage pages show them."""

from __future__ import annotations

from decimal import Decimal

from django import template

register = template.Library()


def format_usd(value: Decimal | float | None, *, unknown: str = "unknown") -> str:
    """Dollars with as many places as small sums need: $12.34, $0.50, $0.0523, $0.000123; None is unknown."""
    if value is None:
        return unknown
    amount = Decimal(str(value))
    places = 2 if abs(amount) >= 1 else 4 if abs(amount) >= Decimal("0.01") else 6
    text = f"{amount:,.{places}f}"
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")  # at least cents, no trailing zeros past them
    return f"${whole}.{fraction}"


def format_tokens(value: float | int | None) -> str:
    return f"{int(value or 0):,}"


@register.filter
def usd(value: Decimal | float | None) -> str:
    return format_usd(value)


@register.filter
def tokens(value: int | None) -> str:
    return format_tokens(value)
