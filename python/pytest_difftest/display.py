"""Text for people: durations and ages, and stored text made safe to print; shared by the
plugin's header and summary and the CLI."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable


def printable(text: str) -> str:
    """`text` with every character `str.isprintable` rejects (escape sequences, BEL, carriage
    returns and newlines, other control and format characters) shown as Python escapes:
    ``\\x1b``, ``\\n``, ``\\u202e``. Node ids, paths and block names come from the checkout and
    from databases others wrote; printed raw, they could retitle or clear the terminal, or
    forge a line of ours."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def text(lines: Iterable[str]) -> str:
    """Lines for the terminal, each made `printable`."""
    return "\n".join(printable(line) for line in lines)


def duration(seconds: float) -> str:
    """``0.4s``, ``12s``, ``3m12s``, ``1h05m``: precise when small, rounded when large."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def stored_time(stored: object) -> float | None:
    """A unix time as the database holds it (``created``, a run's ``time``), or None when it is
    not a finite number: a baseline someone else wrote may hold anything."""
    if isinstance(stored, bool) or not isinstance(stored, (str, int, float)):
        return None
    try:
        value = float(stored)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def age(since: float) -> str:
    """How long ago the unix time `since` was, in its largest unit: ``3d``, ``5h``, ``42s``."""
    seconds = max(0, int(time.time() - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
