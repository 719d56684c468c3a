"""Settings read by the rest of the shop."""

TAX_RATE = 0.25
CURRENCY = "EUR"
