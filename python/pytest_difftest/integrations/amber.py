"""syrupy's amber snapshot files (``.ambr``), entry by entry, so that a test depends on its own
entries rather than on a file other tests' snapshots share.

An amber file is a header (``# serializer version: 1``) and entries, each from a line
``# name: NAME`` to a line ``# ---``; syrupy reads an entry's data from its indented lines. A
test's entries are a pseudo-file ``<snapshot>/FILE::NAME`` whose value is everything in the
file outside entries (the header, which applies to every entry) and the text of each entry
named NAME, ``NAME.N`` or ``NAME[LABEL]``: the test's own assertions after its first, and
those it diffs against (``snapshot(diff=1)``), are its snapshots too. An entry added, edited,
removed or renamed changes the value of the names it had or has, and nothing else.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

PREFIX = "<snapshot>/"
# Between the file and the name in a pseudo-file's path. A file whose path holds it keeps
# depending on the whole file.
SEPARATOR = "::"
SUFFIX = ".ambr"
# Lines syrupy reads as markers, and the keys of the two that delimit an entry.
_MARKER = "# "
_MARKER_LINE = re.compile(r"^# [^\n]*\n?", re.MULTILINE)
# Where syrupy's name for a test's further snapshot goes on from the test's: NAME.N, NAME[LABEL].
_CUT = re.compile(r"[.\[]")
_NAME = "name"
_DIVIDER = "---"


class Amber(NamedTuple):
    """An amber file cut where syrupy cuts it."""

    # Every line outside an entry, in order: the header, and anything between entries.
    shared: str
    # Name → the text of each entry that is one of that name's (see `names_of`), from its
    # ``# name:`` line to its ``# ---`` line, in file order.
    entries: dict[str, list[str]]

    def value(self, name: str) -> str | None:
        """The value of ``<snapshot>/FILE::name``; None when the file has no entry of it."""
        own = self.entries.get(name)
        if not own:
            return None
        # Entries delimit themselves (a name line to a divider line, no marker between): the
        # shared text's length is all the value needs to stay unambiguous.
        return f"{len(self.shared)}\n{self.shared}{''.join(own)}"


def names_of(entry: str) -> list[str]:
    """The names the entry named `entry` is one of: its own, and that of the test whose
    further snapshots syrupy names ``NAME.N`` and ``NAME[LABEL]`` (`entry` cut before any
    ``.`` or ``[``; a cut that names no test costs nothing)."""
    return [entry, *(entry[: cut.start()] for cut in _CUT.finditer(entry, 1))]


def parse(text: str) -> Amber | None:
    """`text` cut into entries as syrupy reads it; None when what syrupy reads for an entry
    could depend on more than its own lines and the lines outside entries: a marker line
    within an entry (a second ``# name:`` continues the first's data under the new name, a
    version marker there fails the whole file), an entry without its end, a name left
    empty."""
    # Lines end as syrupy reads its file (universal newlines). Only marker lines are looked at
    # one by one: this runs on every snapshot file with stored entries, on every `--diff`.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    shared: list[str] = []
    entries: dict[str, list[str]] = {}
    name: str | None = None
    begin = after = 0  # where the entry being read begins; where the last one ended
    for marker in _MARKER_LINE.finditer(text):
        key, value = _marker(marker.group())
        if name is None:
            if key == _NAME:
                if not value:
                    return None
                shared.append(text[after : marker.start()])
                name, begin = value, marker.start()
        elif key == _DIVIDER:
            after = marker.end()
            for owner in names_of(name):
                entries.setdefault(owner, []).append(text[begin:after])
            name = None
        else:
            return None
    if name is not None:
        return None
    shared.append(text[after:])
    return Amber("".join(shared), entries)


def _marker(line: str) -> tuple[str | None, str]:
    """The key and value of a marker line as syrupy splits it (``# name: x`` is ``name``,
    ``x``); None for any other line."""
    if not line.startswith(_MARKER):
        return None, ""
    key, _, value = line[len(_MARKER) :].partition(":")
    return key.rstrip(" \r\n"), value.strip()


def read(path: str | os.PathLike[str]) -> Amber | str | None:
    """The amber file at `path`: parsed; or, when it cannot be (see `parse`, or not UTF-8),
    its whole contents as a value that changes with any byte; None when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # Latin-1 maps bytes one to one: any change shows.
        return "not UTF-8\n" + data.decode("latin-1")
    parsed = parse(text)
    return "not entries\n" + text if parsed is None else parsed


def entry_path(file: str, name: str) -> str:
    """The pseudo-file of the entries of `name` in the snapshot file `file` (relative)."""
    return f"{PREFIX}{file}{SEPARATOR}{name}"


def entry_facts(root: Path, stored: Iterable[str]) -> dict[str, str]:
    """``<snapshot>/FILE::NAME`` → its value now, for the stored entry pseudo-files; each file
    is read once. An entry missing now, or in a missing file, has no value (the core takes
    it for missing); in a file that no longer reads as entries, every entry's value is the
    whole file."""
    names: dict[str, list[str]] = {}
    for path in stored:
        if path.startswith(PREFIX):
            file, separator, name = path[len(PREFIX) :].partition(SEPARATOR)
            if separator:
                names.setdefault(file, []).append(name)
    found: dict[str, str] = {}
    for file, in_file in names.items():
        amber = read(root / file)
        for name in in_file:
            value = amber.value(name) if isinstance(amber, Amber) else amber
            if value is not None:
                found[entry_path(file, name)] = value
    return found
