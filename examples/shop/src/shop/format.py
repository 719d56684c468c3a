"""Turning amounts into text."""

from shop.config import CURRENCY


def money(amount: float) -> str:
    return f"{amount:.2f} {CURRENCY}"
