"""Benchmarks pytest-difftest against plain pytest on a generated project.

    python benches/run.py --size small [--shape layered|dense|calls] [--rounds 3]
                          [--out benches/results/RESULTS.md] [--python /path/to/python]
                          [--seed 1] [--keep] [--modules N --tests N]

Every scenario runs in pairs, plugin run (A) then plain `pytest -q` (B),
A B A B ..., and reports the median of the per-pair ratios A/B, so that load from other
processes, which drifts slowly, mostly cancels. Wall time is measured around each child
process; peak memory is the child's own ru_maxrss, read with os.wait4 on its pid.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import SHAPES, SIZES, generate, mutate

# Plain pytest as a user runs it without the plugin's options: the plugin is installed but
# inactive, and pytest's own cache plugin is on, as it is in the plugin's runs.
PLAIN = ["-q"]
# An empty directory inside the project: plain pytest collecting it measures pytest's own
# start-up, the floor under any run that decides nothing needs to run.
NOTHING = "nothing-to-collect"
DB = Path(".pytest_cache") / "pytest-difftest" / "pytest_difftest.db"
SELECTED = re.compile(r"difftest: ([\d,]+) of ([\d,]+) tests selected")
PASSED = re.compile(r"(\d+) passed")


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    output: str

    @property
    def tests_run(self) -> int:
        found = PASSED.search(self.output)
        return int(found[1]) if found else 0


@dataclass
class Scenario:
    name: str
    pairs: list[tuple[Run, Run]] = field(default_factory=list)

    def ratios(self) -> list[float]:
        return [a.seconds / b.seconds for a, b in self.pairs]

    def median(self, which: int) -> float:
        return statistics.median(pair[which].seconds for pair in self.pairs)

    def cpu_ratio(self) -> float:
        return statistics.median(a.cpu_seconds / b.cpu_seconds for a, b in self.pairs)

    def memory_ratio(self) -> float:
        return statistics.median(a.max_rss_kib / b.max_rss_kib for a, b in self.pairs)


class Bench:
    def __init__(self, python: str, project: Path) -> None:
        self.python = python
        self.project = project
        # Byte-code caching on, as for most users (some CI images turn it off): otherwise every
        # run recompiles and assertion-rewrites every module, which hides the plugin's cost.
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PYTEST_") and k != "PYTHONDONTWRITEBYTECODE"
        }

    def pytest(self, *args: str, ok: tuple[int, ...] = (0,)) -> Run:
        """Runs pytest in the project; wall time from spawn to reaping, the child's peak RSS."""
        with tempfile.TemporaryFile("w+") as log:
            start = time.perf_counter()
            child = subprocess.Popen(
                [self.python, "-m", "pytest", *args],
                cwd=self.project,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            _, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
            child.returncode = os.waitstatus_to_exitcode(status)
            log.seek(0)
            output = log.read()
        if child.returncode not in ok:
            tail = "\n".join(output.splitlines()[-30:])
            raise SystemExit(f"pytest {' '.join(args)} exited {child.returncode}:\n{tail}")
        # ru_maxrss is in KiB on Linux, bytes on macOS.
        rss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss
        return Run(seconds, usage.ru_utime + usage.ru_stime, rss, output)

    def pair(self, scenario: Scenario, *plugin_args: str) -> Run:
        a = self.pytest("-q", *plugin_args)
        b = self.pytest(*PLAIN)
        scenario.pairs.append((a, b))
        print(
            f"  {scenario.name}: {a.seconds:.2f}s vs {b.seconds:.2f}s "
            f"({a.seconds / b.seconds:.2f}x), {a.tests_run} tests run",
            file=sys.stderr,
        )
        return a

    def db_bytes(self) -> int:
        """Size of the database after folding the write-ahead log into it."""
        path = self.project / DB
        connection = sqlite3.connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
        wal = path.with_name(path.name + "-wal")
        return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


@dataclass
class Measured:
    scenarios: list[Scenario]
    # Tests run (or selected of collected) per scenario name.
    selected: dict[str, str]
    db_bytes: int
    # Seconds of plain pytest collecting an empty directory, one per round.
    startup: list[float]


def measure(bench: Bench, project: Path, rounds: int) -> Measured:
    """Runs every scenario `rounds` times, in order, editing the project between them."""
    full = Scenario("full baseline (`--diff-baseline --diff-force`)")
    nochange = Scenario("no change, `--diff`")
    body = Scenario("one leaf function body changed, `--diff`")
    incremental = Scenario("incremental `--diff-baseline` after that change")
    hub = Scenario("hub function (`core.normalize`) changed, `--diff`")
    selected: dict[str, str] = {}

    def count(scenario: Scenario, run: Run) -> None:
        found = SELECTED.search(run.output)
        selected[scenario.name] = f"{found[1]} of {found[2]}" if found else str(run.tests_run)

    for _ in range(rounds):
        count(full, bench.pair(full, "--diff-baseline", "--diff-force"))
    db_bytes = bench.db_bytes()
    (project / NOTHING).mkdir()
    startup = []
    for _ in range(rounds):
        count(nochange, bench.pair(nochange, "--diff"))
        startup.append(bench.pytest("-q", NOTHING, ok=(5,)).seconds)
    mutate(project, "body")
    for _ in range(rounds):
        count(body, bench.pair(body, "--diff"))
    for _ in range(rounds):
        # A new edit each round, so each incremental run has the same amount of work.
        mutate(project, "body")
        count(incremental, bench.pair(incremental, "--diff-baseline"))
    mutate(project, "hub")
    for _ in range(rounds):
        count(hub, bench.pair(hub, "--diff"))
    scenarios = [full, nochange, body, incremental, hub]
    return Measured(scenarios, selected, db_bytes, startup)


def check_interpreter(python: str) -> str:
    """Version string of the plugin in `python`; exits non-zero when it is not installed."""
    probe = subprocess.run(
        [
            python,
            "-c",
            "import pytest, pytest_difftest, pytest_difftest._core;"
            "import platform; print(platform.python_version(),"
            " pytest_difftest.__version__, pytest.__version__)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        print(
            f"error: pytest-difftest is not importable with {python}; install it there first "
            f"(`{python} -m pip install -e .`):\n{probe.stderr.strip()}",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return probe.stdout.strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def fmt_ratio(scenario: Scenario) -> str:
    ratios = scenario.ratios()
    each = ", ".join(f"{r:.2f}" for r in ratios)
    return f"**{statistics.median(ratios):.2f}x** ({each})"


def report(
    args: argparse.Namespace, versions: str, manifest: dict[str, object], measured: Measured
) -> str:
    scenarios, selected, db_bytes = measured.scenarios, measured.selected, measured.db_bytes
    py_version, plugin_version, pytest_version = versions.split()
    tests = int(str(manifest["tests"]))
    lines = [
        f"# pytest-difftest benchmark: {args.size}"
        + (" resized" if args.modules or args.tests else "")
        + (f", {args.shape} shape" if args.shape != "layered" else ""),
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
        f"{platform.release()}",
        f"- python {py_version} ({args.python}), pytest {pytest_version}, "
        f"pytest-difftest {plugin_version}",
        f"- project: {args.shape} shape, {manifest['modules']} modules, {tests} tests in "
        f"{manifest['test_files']} test files (seed {args.seed})",
        f"- rounds: {args.rounds} pairs per scenario; plain = `pytest {' '.join(PLAIN)}`; "
        "byte-code caching on",
        "",
        "| scenario | plugin (median s) | plain (median s) | wall ratio: median (pairs) "
        "| CPU ratio (median) | tests run |",
        "| --- | ---: | ---: | --- | ---: | ---: |",
    ]
    for scenario in scenarios:
        lines.append(
            f"| {scenario.name} | {scenario.median(0):.2f} | {scenario.median(1):.2f} "
            f"| {fmt_ratio(scenario)} | {scenario.cpu_ratio():.2f}x | {selected[scenario.name]} |"
        )
    base, nochange = scenarios[0], scenarios[1]
    floor = statistics.median(measured.startup)
    a_rss = statistics.median(a.max_rss_kib for a, _ in base.pairs) / 1024
    b_rss = statistics.median(b.max_rss_kib for _, b in base.pairs) / 1024
    lines += [
        "",
        "| other figure | value |",
        "| --- | ---: |",
        f"| peak RSS, full baseline (median) | {a_rss:.1f} MiB |",
        f"| peak RSS, plain pytest (median) | {b_rss:.1f} MiB |",
        f"| peak RSS ratio, baseline / plain (median of pairs) | {base.memory_ratio():.2f}x |",
        f"| database size after full baseline | {db_bytes / 1024:.0f} KiB |",
        f"| database bytes per test | {db_bytes / tests:.0f} |",
        f"| pytest start-up: plain `pytest -q {NOTHING}/`, an empty directory (median) "
        f"| {floor:.2f} s |",
        f"| no change, `--diff`, above pytest start-up (median) "
        f"| {nochange.median(0) - floor:+.2f} s |",
        f"| incremental `--diff-baseline`, above pytest start-up (median) "
        f"| {scenarios[3].median(0) - floor:+.2f} s |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--shape", choices=SHAPES, default="layered")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument(
        "--out", type=Path, help="default: benches/results/RESULTS-<size>[-<shape>].md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated project")
    parser.add_argument("--modules", type=int, help="override the size's module count")
    parser.add_argument("--tests", type=int, help="override the size's test count")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    suffix = "" if args.shape == "layered" else f"-{args.shape}"
    out = (
        args.out or Path(__file__).resolve().parent / "results" / f"RESULTS-{args.size}{suffix}.md"
    )
    versions = check_interpreter(args.python)
    work = Path(tempfile.mkdtemp(prefix="difftest-bench-"))
    try:
        project = work / "project"
        modules, tests = SIZES[args.size]
        modules, tests = args.modules or modules, args.tests or tests
        manifest = generate(project, modules, tests, args.seed, shape=args.shape)
        print(
            f"generated {project}: {manifest['modules']} modules, {manifest['tests']} tests",
            file=sys.stderr,
        )
        bench = Bench(args.python, project)
        # Warm-up: byte-code caches, page cache, and a first database.
        bench.pytest(*PLAIN)
        bench.pytest("-q", "--diff-baseline", "--diff-force")

        text = report(args, versions, manifest, measure(bench, project, args.rounds))
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
