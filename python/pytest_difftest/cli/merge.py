"""``pytest-difftest merge OUTPUT INPUT...``: one database from several (parallel CI jobs).

Inputs are database files, directories (every ``.db`` file below them), ``s3://bucket/prefix/``
(every ``.db`` object under the prefix), single ``s3://`` keys, or ``file://`` URLs of either.
The output is a path or a URL: a remote output is merged locally, then uploaded. The merge
itself (which record of a test wins, what happens to files and blocks) is the Rust core's.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_difftest.cli.project import find_project
from pytest_difftest.dbfile import DatabasePathError, check_location, normalized
from pytest_difftest.errors import CliError, RemoteError
from pytest_difftest.remote import open_backend
from pytest_difftest.remote.file import file_url_path


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="merge databases (e.g. from parallel CI jobs) into one",
        description="Merge pytest-difftest databases into OUTPUT: the union of their tests, "
        "each test keeping its most recent record; the result does not depend on the order of "
        "the inputs.",
    )
    parser.add_argument(
        "output", metavar="OUTPUT", help="the merged database: a path, file:// or s3:// URL"
    )
    parser.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="+",
        help="a database file, a directory (every .db file below it), s3://bucket/prefix/ "
        "(every .db object under it) or s3://bucket/key.db",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pytest_difftest._core import merge_databases

    output: str = args.output
    local_output = _local_path(output)
    if local_output is not None:
        # The same rules as for `pytest --diff-db`, with the project around the working
        # directory as rootdir.
        local_output = normalized(local_output, Path.cwd())
        try:
            check_location(local_output, find_project(Path.cwd()).root)
        except DatabasePathError as error:
            raise CliError(f"OUTPUT {output}: {error}") from None
    try:
        with tempfile.TemporaryDirectory(prefix="difftest-merge-") as scratch:
            workdir = Path(scratch)
            inputs: list[Path] = []
            for source in args.inputs:
                inputs.extend(_gather(source, workdir, len(inputs), output))
            if local_output is None:
                merged = workdir / "merged.db"
                count = merge_databases(merged, inputs)
                open_backend(output).upload(merged)
            else:
                local_output.parent.mkdir(parents=True, exist_ok=True)
                count = merge_databases(local_output, inputs)
    except RemoteError as error:
        raise CliError(str(error)) from None
    sources = f"{len(inputs)} database{'s' * (len(inputs) != 1)}"
    print(f"pytest-difftest: merged {sources} ({count:,} tests) into {output}")
    return 0


def _local_path(text: str) -> Path | None:
    """The local file `text` names (a path or a file:// URL); None for an s3:// URL."""
    if text.startswith("s3://"):
        return None
    if text.startswith("file://"):
        return file_url_path(text)
    return Path(text)


def _gather(source: str, workdir: Path, taken: int, output: str) -> list[Path]:
    """The local database files for one INPUT, downloading remote ones into `workdir` under
    numbered names (``0003-name.db``), so that equal names from different prefixes or folders
    never overwrite each other. A folder or prefix holding OUTPUT does not make it an input."""

    if source.startswith("s3://"):
        backend = open_backend(source)
        key = urlsplit(source).path.lstrip("/")
        if key == "" or key.endswith("/"):
            urls = [url for url in backend.list_databases() if url != output]
        else:
            urls = [source]
        if not urls:
            raise CliError(f"{source}: no .db objects under this prefix")
        found: list[Path] = []
        for url in urls:
            dest = workdir / f"{taken + len(found):04d}-{url.rsplit('/', 1)[-1]}"
            open_backend(url).fetch(dest, None)
            found.append(dest)
        return found
    path = _local_path(source)
    assert path is not None
    if path.is_dir():
        output_path = _local_path(output)
        files = [
            file
            for file in sorted(path.rglob("*.db"))
            if file.is_file() and (output_path is None or file.resolve() != output_path.resolve())
        ]
        if not files:
            raise CliError(f"{source}: no .db files in this directory")
        return files
    if not path.is_file():
        raise CliError(f"{source}: no such file or directory")
    return [path]
