"""Orders and their lines."""

from dataclasses import dataclass, field

from shop.config import TAX_RATE


@dataclass
class Line:
    sku: str
    price: float
    quantity: int = 1

    def subtotal(self) -> float:
        return self.price * self.quantity


@dataclass
class Order:
    lines: list[Line] = field(default_factory=list)

    def total(self) -> float:
        net = sum(line.subtotal() for line in self.lines)
        return round(net * (1 + TAX_RATE), 2)
