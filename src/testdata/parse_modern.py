"""Orders and their totals.

Exercises syntax from Python 3.8 to 3.14.
"""

from __future__ import annotations

import functools
import os.path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .pricing import DEFAULT_RATE as RATE, rounding
from ..shared import registry

if TYPE_CHECKING:
    from collections.abc import Iterator

TIMEOUT = 30
RETRIES: int = 3
SCALE, *OFFSETS = (1.5, 2, 3)
PATTERNS = {
    "sku": r"[A-Z]{3}-\d+",
    "ean": r"\d{13}",
}
type Money = decimal.Decimal
type Pair[K, V = K] = tuple[K, V]
_state = {}
CONFIG = os.environ.get("ORDERS_CONFIG", "orders.toml")


@dataclass
class Order:
    """A customer order."""

    lines: list[Line] = field(default_factory=list)
    currency = "EUR"

    @property
    def total(self) -> float:
        """Sum of the line totals."""
        return sum(line.price * line.qty for line in self.lines) * SCALE

    @total.setter
    def total(self, value: float) -> None:
        self._override = value

    class Line:
        def describe(self, /, verbose=False, *, sep=" ") -> str:
            return f"{self.sku}{sep}{self.meta["name"]!r:>{WIDTH}}"

        class Meta:
            def label(self) -> str:
                return t"line {self!r}"


class Pluggable(Base, metaclass=Meta):
    _registry: dict[str, type] = {}

    @classmethod
    def register(cls, name, plugin):
        cls._registry[name] = plugin


class Box[T = int]:
    def get[U: (str, bytes) = str](self, default: U) -> T | U:
        return self.item if (item := self.item) is not None else default


@functools.lru_cache(maxsize=None)
def parse_sku(sku: str) -> tuple[str, int]:
    prefix, _, number = sku.partition("-")
    return prefix, int(number)


def bump():
    global RETRIES
    RETRIES += 1


@app.route("/orders/<int:order_id>")
async def fetch(order_id, /, session=None):
    async with session.get(f"/orders/{order_id}") as response:
        async for chunk in response.content:
            await handle(chunk)
    return [line for line in await response.json() if line["qty"] > 0]


def dispatch(command):
    match command:
        case {"action": "cancel", "order": int(order_id)}:
            return cancel(order_id)
        case [first, *rest] if first in PATTERNS:
            return sorted(rest, key=lambda item: item[1])
        case _:
            return None


def risky(orders):
    try:
        process(orders)
    except* ValueError as group:
        log(group)
    try:
        process(orders)
    except KeyError, IndexError:
        pass
    return {order.id: order for order in orders}


def first[T](items: list[T]) -> T:
    from .util import head
    import json as _json

    return head(items)
