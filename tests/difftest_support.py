"""Helpers for the end-to-end suite: a small project in pytester's directory, run in a fresh
pytest process where the plugin loads from its entry point (the outer run disables it with
``-p no:difftest``; the inner run reads only the project's own pyproject.toml)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

DB = Path(".pytest_cache", "pytest-difftest", "pytest_difftest.db")

# "tests/test_a.py::test_x PASSED   [ 50%]" as printed with -v.
_RESULT_LINE = re.compile(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)\b")
_SUMMARY_LINE = re.compile(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+::\S+)")

BASE_FILES = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        pythonpath = ["src"]
        testpaths = ["tests"]
        markers = ["slow: a slow test"]
    """,
    "src/pkg/__init__.py": "",
    "src/pkg/config.py": """
        TIMEOUT = 30
        RETRIES = 3
    """,
    "src/pkg/calc.py": """
        def add(a, b):
            return a + b


        def mul(a, b):
            return a * b
    """,
    "src/pkg/text.py": """
        def shout(word):
            return word.upper() + "!"
    """,
    "tests/test_timeout.py": """
        from pkg.config import TIMEOUT


        def test_timeout():
            assert TIMEOUT == 30
    """,
    "tests/test_retries.py": """
        from pkg.config import RETRIES


        def test_retries():
            assert RETRIES == 3
    """,
    "tests/test_calc.py": """
        from pkg.calc import add, mul


        def test_add():
            assert add(2, 3) == 5


        def test_mul():
            assert mul(2, 3) == 6
    """,
    "tests/test_text.py": """
        from pkg.text import shout


        def test_shout():
            assert shout("hi") == "HI!"
    """,
}

ALL_TESTS = {"test_timeout", "test_retries", "test_add", "test_mul", "test_shout"}


# The runs under test load this plugin and xdist only, as with PYTEST_DISABLE_PLUGIN_AUTOLOAD and
# ``-p`` (the CLI reads PYTEST_ADDOPTS the way pytest does): the other installed plugins
# (hypothesis, anyio, pytest-asyncio...) cost about two seconds of start-up per run, which was
# most of this suite's time. The ecosystem tests run with every installed plugin.
OUR_PLUGINS_ONLY = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTEST_ADDOPTS": "-p difftest -p xdist"}

# What pytest-xdist tells the processes of a worker of the outer run. A run under test is no
# worker of ours (it starts workers of its own with -n), and plugins read these: pytest-benchmark
# turns itself off in an xdist worker.
OUTER_WORKER = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


class Project:
    """A project on disk plus helpers to run pytest on it with the plugin."""

    def __init__(self, pytester: pytest.Pytester, root: Path) -> None:
        self.pytester = pytester
        self.root = root
        self.environment = dict(OUR_PLUGINS_ONLY)

    def load_installed_plugins(self) -> None:
        """Runs from now on load every installed plugin, as pytest does by default."""
        self.environment = {}

    def subprocess_environment(self) -> dict[str, str]:
        """The environment for a process a test starts itself, as ``run`` starts pytest."""
        outer = {name: value for name, value in os.environ.items() if name not in OUTER_WORKER}
        return {**outer, **self.environment}

    @contextlib.contextmanager
    def in_project(self) -> Iterator[None]:
        """From the project root, in the environment its runs have."""
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.root)
            for name in OUTER_WORKER:
                patch.delenv(name, raising=False)
            for name, value in self.environment.items():
                patch.setenv(name, value)
            yield

    # -- files ---------------------------------------------------------------------------------

    def write(self, relative: str, text: str) -> Path:
        """(Re)writes a file from dedented `text` and moves its mtime forward, so that a stat
        cache keyed on mtime and size cannot miss the change."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        old_mtime = path.stat().st_mtime if existed else 0.0
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        if existed:
            new_mtime = max(path.stat().st_mtime, old_mtime) + 2
            os.utime(path, (new_mtime, new_mtime))
        return path

    def write_files(self, files: dict[str, str]) -> None:
        for relative, text in files.items():
            self.write(relative, text)

    def read(self, relative: str) -> str:
        return (self.root / relative).read_text(encoding="utf-8")

    def replace(self, relative: str, old: str, new: str) -> None:
        text = self.read(relative)
        assert old in text, f"{old!r} not in {relative}"
        self.write(relative, text.replace(old, new, 1))

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink()

    def rename(self, old: str, new: str) -> None:
        target = self.root / new
        target.parent.mkdir(parents=True, exist_ok=True)
        (self.root / old).rename(target)

    # -- runs ----------------------------------------------------------------------------------

    def run(self, *args: str, timeout: float | None = None) -> pytest.RunResult:
        """Runs pytest -v in a subprocess from the project root."""
        with self.in_project():
            return self.pytester.runpytest_subprocess("-v", *args, timeout=timeout)

    def baseline(self, *args: str) -> pytest.RunResult:
        result = self.run("--diff-baseline", *args)
        result.stdout.fnmatch_lines(["difftest: --diff-baseline*"])
        return result

    def diff(self, *args: str) -> pytest.RunResult:
        result = self.run("--diff", *args)
        result.stdout.fnmatch_lines(["difftest: --diff,*"])
        return result

    def cli(self, *args: str) -> pytest.RunResult:
        """Runs ``python -m pytest_difftest ARGS`` in a subprocess from the project root."""
        with self.in_project():
            return self.pytester.run(*self.cli_command(), *args)

    @staticmethod
    def cli_command() -> tuple[str, ...]:
        return (sys.executable, "-m", "pytest_difftest")

    def cli_json(self, *args: str) -> Any:
        """The JSON a CLI command printed; fails with its stderr if it failed."""
        result = self.cli(*args, "--json")
        assert result.ret == 0, result.stderr.str()
        return json.loads(result.stdout.str())

    def stored(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        """Rows of a query on the database, read with sqlite3 as an independent witness."""
        with contextlib.closing(sqlite3.connect(self.root / DB)) as conn:
            return conn.execute(query, params).fetchall()

    def stored_update(self, statement: str, *params: object) -> None:
        """Changes the database behind the plugin's back, to plant facts a test checks for."""
        with contextlib.closing(sqlite3.connect(self.root / DB)) as conn, conn:
            conn.execute(statement, params)

    def settled(self, *args: str) -> pytest.RunResult:
        """A first baseline where every test passes."""
        result = self.baseline(*args)
        assert result.ret == 0, result.stdout.str()
        return result


def outcomes(result: pytest.RunResult) -> dict[str, str]:
    """Test function name (with parameters) → outcome, from the -v report lines."""
    found: dict[str, str] = {}
    for line in result.outlines:
        match = _RESULT_LINE.match(line)
        if match:
            name = match.group(1).rpartition("::")[2]
            # A test that fails in teardown reports twice: keep the worst.
            if found.get(name) not in ("FAILED", "ERROR"):
                found[name] = match.group(2)
    return found


def summary(result: pytest.RunResult) -> dict[str, str]:
    """Node id → outcome, from the -rA short summary (xdist prints no plain -v lines)."""
    return {m.group(2): m.group(1) for m in map(_SUMMARY_LINE.match, result.outlines) if m}


def reported(result: pytest.RunResult) -> dict[str, str]:
    """Test function name (with parameters) → outcome, from the -v lines and the -rA short
    summary: a run with or without xdist, given -rA."""
    found = {nodeid.rpartition("::")[2]: outcome for nodeid, outcome in summary(result).items()}
    return {**found, **outcomes(result)}


def ran(result: pytest.RunResult) -> set[str]:
    """Names of the tests that ran (or were reported in any way) in `result`."""
    return set(outcomes(result))


def collected(result: pytest.RunResult) -> int:
    """The number pytest printed in "collected N items"."""
    for line in result.outlines:
        match = re.search(r"\bcollected (\d+) items?", line)
        if match:
            return int(match.group(1))
    raise AssertionError("no 'collected N items' line:\n" + result.stdout.str())


class S3:
    """A bucket on the test suite's moto server, through a real boto3 client."""

    def __init__(self, client: Any, bucket: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint

    @classmethod
    def create(cls, endpoint: str) -> S3:
        import boto3

        client = boto3.session.Session().client("s3")
        bucket = f"difftest-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        return cls(client, bucket, endpoint)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def objects(self) -> list[str]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def get(self, key: str, dest: Path) -> Path:
        self.client.download_file(self.bucket, key, str(dest))
        return dest

    def put(self, key: str, source: Path) -> None:
        self.client.upload_file(str(source), self.bucket, key)

    def etag(self, key: str) -> str:
        return str(self.client.head_object(Bucket=self.bucket, Key=key)["ETag"])

    @contextlib.contextmanager
    def authentication(self) -> Iterator[None]:
        """Makes the server check credentials and permissions (moto does not by default)."""
        self._reset_auth(b"0")
        try:
            yield
        finally:
            self._reset_auth(b"inf")

    def _reset_auth(self, count: bytes) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth",
            data=count,
            method="POST",
            # Not a form: the server reads the raw body.
            headers={"Content-Type": "text/plain"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def user_without_permissions(self) -> tuple[str, str]:
        """Credentials the server knows, allowed to do nothing."""
        import boto3

        iam = boto3.session.Session().client("iam")
        name = f"nobody-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]


# Stored outcome codes (schema.sql, `test.outcome`) by position.
OUTCOMES = ("passed", "skipped", "failed", "pending", "owed")


def recorded_tests(db: Path) -> dict[str, str]:
    """Node id -> outcome of every test a database file holds."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            nodeid: OUTCOMES[code]
            for nodeid, code in conn.execute("SELECT nodeid, outcome FROM test")
        }


def dump(db: Path) -> list[tuple[Any, ...]]:
    """A database's contents without row ids: each test with the blocks it depends on."""
    with closing(sqlite3.connect(db)) as conn:
        blocks = {
            row[0]: (row[1], row[2], row[3])
            for row in conn.execute(
                "SELECT block.id, file.path, block.name, block.checksum FROM block "
                "JOIN file ON file.id = block.file_id"
            )
        }
        depsets = dict(conn.execute("SELECT id, blocks FROM depset"))
        rows = []
        for nodeid, outcome, recorded, deps, depset in conn.execute(
            "SELECT nodeid, outcome, recorded, deps, depset_id FROM test ORDER BY nodeid"
        ):
            own = sorted(blocks[i] for i in decode_ids(deps))
            shared = sorted(blocks[i] for i in decode_ids(depsets[depset])) if depset else None
            rows.append((nodeid, OUTCOMES[outcome], recorded, own, shared))
        files = list(conn.execute("SELECT path, clean_hash FROM file ORDER BY path"))
        return [*rows, *files]


def decode_ids(blob: bytes) -> list[int]:
    """The store's id lists: ascending ids as runs, each a varint `gap << 1 | more` (gap from
    the end of the previous run) followed, when `more` is set, by a varint count of the
    consecutive ids after the first."""
    varints, value, shift = [], 0, 0
    for byte in blob:
        value |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            varints.append(value)
            value, shift = 0, 0
    ids: list[int] = []
    previous, position = 0, 0
    while position < len(varints):
        head = varints[position]
        more = varints[position + 1] if head & 1 else 0
        position += 2 if head & 1 else 1
        first = previous + (head >> 1)
        ids.extend(range(first, first + more + 1))
        previous = first + more
    return ids


def fill_up(disk: Path, leave: int = 0) -> Path:
    """Fills the file system of `disk` until about `leave` bytes are free; returns the filler
    file (delete it to free the space again)."""
    filler = disk / "filler"
    stat = os.statvfs(disk)
    size = max(0, stat.f_bavail * stat.f_frsize - leave)
    with filler.open("wb") as out:
        out.write(b"\0" * size)
    return filler


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def venv_seeing(interpreter: str, where: Path, site_dirs: Iterable[str]) -> str:
    """A virtual environment of `interpreter` at `where`, without pip of its own, whose site
    also holds `site_dirs` (through a ``.pth``: this environment may be a venv itself, whose
    packages a new venv's ``--system-site-packages`` would not see); its interpreter."""
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(where)], check=True)
    python = str(where / ("Scripts" if os.name == "nt" else "bin") / "python")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    lines = "".join(f"import site; site.addsitedir({path!r})\n" for path in site_dirs)
    Path(purelib, "difftest_outer.pth").write_text(lines, encoding="utf-8")
    return python
