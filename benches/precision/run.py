"""Precision benchmark: seeded mutants of real projects; what each tool selects against the truth.

    python benches/precision/run.py [--projects attrs,click] [--mutants-per-kind 8] [--seed 1]
                                    [--python PATH] [--tools difftest,testmon] [--out FILE]
    python benches/precision/run.py --smoke      # CI: one project, three mutants, both tools

For each project (pinned sdist, see projects.py) and each mutant (mutants.py), on the mutated
tree: the oracle is a full `pytest` run (the tests that fail or error); pytest-difftest runs
`pytest --diff` from a `--diff-baseline` recorded on the unmutated tree, pytest-testmon
`pytest --testmon` from a `--testmon` baseline; both baselines are restored before every
mutant. A test the oracle fails and a tool did not run is a miss. Writes a Markdown report and
a JSON file with every mutant beside it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from mutants import KINDS, Mutant, shuffled, sites  # noqa: E402
from projects import CONSTRAINTS, PROJECTS, PYTEST, TESTMON, Project  # noqa: E402

TOOLS = ("difftest", "testmon")
TOOL_ARGS = {"difftest": ["--diff"], "testmon": ["--testmon"]}
BASELINE_ARGS = {"difftest": ["--diff-baseline"], "testmon": ["--testmon"]}
# What a run leaves in the tree besides the code: the tools' databases, pytest's cache,
# hypothesis' example database. Saved after each baseline and put back before each tool run.
RUN_STATE = (".pytest_cache", ".hypothesis", ".testmondata", ".testmondata-wal", ".testmondata-shm")
# Exit statuses of a run that worked: all passed, some failed, no test selected.
USABLE_EXIT = (0, 1, 5)
SMOKE_PROJECT = "cachetools"
SMOKE_KINDS = ("body", "default", "decorator")
FAILING_IDS_KEPT = 200


class BenchError(Exception):
    """The benchmark itself broke (not a poor figure): reported in one line, exit status 1."""


@dataclass
class Run:
    seconds: float
    exit: int
    ran: list[str]
    failing: list[str]  # failed or errored
    collect_errors: list[str]
    log: Path
    timed_out: bool = False


@dataclass
class ToolResult:
    seconds: float
    selected: int
    missed: list[str]
    confirmed: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class Outcome:
    mutant: Mutant
    oracle_seconds: float
    suite: int
    failing: list[str]
    tools: dict[str, ToolResult]


class Environment:
    """A venv for one project and one tool, and the extracted tree it runs."""

    def __init__(self, work: Path, project: Project, tool: str, python: str, tag: str) -> None:
        self.project = project
        self.tool = tool
        self.python_for_venv = python
        self.venv = work / "venvs" / f"{project.name}-{tool}-{tag}"
        self.tree = work / "trees" / tag / project.name / tool
        self.snapshot = work / "trees" / tag / project.name / f"{tool}-state"
        self.logs = work / "logs" / tag / project.name
        self.python = str(self.venv / "bin" / "python")

    def requirements(self) -> list[str]:
        extra = TESTMON if self.tool == "testmon" else []
        return [PYTEST, *extra, *self.project.test_requires]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_call(command: list[str], what: str, cwd: Path | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise BenchError(f"{what} failed (`{' '.join(command)}`):\n{tail}")
    return done.stdout


# -- setting up ------------------------------------------------------------------------------


def fetch_sdist(work: Path, project: Project) -> Path:
    """The pinned sdist from PyPI (cached), checked against its sha256."""
    directory = work / "sdists"
    directory.mkdir(parents=True, exist_ok=True)
    found = [p for p in directory.glob("*.tar.gz") if _sdist_matches(p, project)]
    if not found:
        check_call(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                project.requirement,
                "-d",
                str(directory),
            ],
            f"downloading the {project.requirement} sdist",
        )
        found = [p for p in directory.glob("*.tar.gz") if _sdist_matches(p, project)]
    if not found:
        raise BenchError(f"pip downloaded no sdist for {project.requirement}")
    digest = sha256(found[0])
    if digest != project.sha256:
        raise BenchError(f"{found[0]}: sha256 {digest}, expected {project.sha256}")
    return found[0]


def _sdist_matches(path: Path, project: Project) -> bool:
    stem = path.name.removesuffix(".tar.gz").lower().replace("-", "_")
    return stem == f"{project.name}_{project.version}".lower().replace("-", "_")


def extract(sdist: Path, tree: Path) -> None:
    """A fresh copy of the sdist's contents at `tree`."""
    shutil.rmtree(tree, ignore_errors=True)
    staging = tree.with_name(tree.name + ".extract")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(sdist) as archive:
        if sys.version_info >= (3, 12):
            archive.extractall(staging, filter="data")
        else:
            archive.extractall(staging)
    (top,) = staging.iterdir()
    top.rename(tree)
    staging.rmdir()


def build_wheel(work: Path) -> Path:
    """This checkout of pytest-difftest as a wheel (abi3: one wheel serves every Python)."""
    out = work / "wheel"
    shutil.rmtree(out, ignore_errors=True)
    say(f"building pytest-difftest from {REPO}")
    check_call(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO), "-w", str(out)],
        "building the pytest-difftest wheel",
    )
    (wheel,) = out.glob("pytest_difftest-*.whl")
    return wheel


def prepare_venv(env: Environment, constraints: Path, wheel: Path | None) -> None:
    """Creates the venv (or reuses it when its pinned requirements are unchanged), installs the
    plugin under test and the project's tree in editable mode, then checks every installed
    distribution is pinned."""
    wanted = json.dumps([env.python_for_venv, env.requirements(), CONSTRAINTS])
    marker = env.venv / "precision-requirements.json"
    if not marker.exists() or marker.read_text() != wanted:
        shutil.rmtree(env.venv, ignore_errors=True)
        check_call([env.python_for_venv, "-m", "venv", str(env.venv)], f"creating {env.venv}")
        pip = [env.python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        check_call(
            [*pip, "-c", str(constraints), *env.requirements()], f"installing into {env.venv}"
        )
        marker.write_text(wanted)
    pip = [env.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps"]
    if wheel is not None:
        check_call([*pip, "--force-reinstall", str(wheel)], "installing pytest-difftest")
    check_call([*pip, "-e", str(env.tree)], f"installing {env.project.name} from {env.tree}")
    frozen = check_call([env.python, "-m", "pip", "freeze", "--all"], "pip freeze")
    pinned = {c.split("==")[0].lower() for c in CONSTRAINTS}
    allowed = pinned | {"pip", "setuptools", "wheel", "pytest-difftest", env.project.name.lower()}
    for line in frozen.splitlines():
        name = line.split("==")[0].split(" @ ")[0].strip().lower().replace("_", "-")
        if line.startswith(("#", "-e")) or not name:
            continue
        if name not in allowed:
            raise BenchError(f"{env.venv}: {line.strip()} is not pinned in projects.CONSTRAINTS")


def source_files(tree: Path, project: Project) -> dict[str, str]:
    """The project's own modules: {relative path: dotted module name}, tests left out."""
    found: dict[str, str] = {}
    for package in project.packages:
        base = tree / package
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(tree)
            inside = path.relative_to(base.parent)
            if {"tests", "test"} & set(inside.parts) or path.name.startswith("test_"):
                continue
            if path.name == "conftest.py":
                continue
            parts = list(inside.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[relative.as_posix()] = ".".join(parts)
    return found


IMPORT_PROBE = """
import importlib, json, sys
failed = []
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as error:  # any failure: the module is not importable here
        failed.append(name)
print(json.dumps(failed))
"""


def importable(env: Environment, modules: Iterable[str]) -> set[str]:
    names = sorted(set(modules))
    done = subprocess.run(
        [env.python, "-c", IMPORT_PROBE, *names],
        cwd=env.tree,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=child_env(None),
    )
    if done.returncode != 0:
        return set()
    failed = set(json.loads(done.stdout.splitlines()[-1]))
    return {n for n in names if n not in failed}


# -- running pytest --------------------------------------------------------------------------


def child_env(outcomes: Path | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "COVERAGE_", "PYTHON")) and k != "VIRTUAL_ENV"
    }
    # Byte-code caching on, as for most users; a fixed hash seed so set orders repeat.
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPATH"] = str(HERE / "plugin")
    if outcomes is not None:
        env["PRECISION_OUTCOMES"] = str(outcomes)
    return env


def pytest(env: Environment, args: list[str], log_name: str, timeout: float) -> Run:
    """Runs pytest in the tree with the outcomes plugin; wall time from spawn to exit."""
    env.logs.mkdir(parents=True, exist_ok=True)
    log = env.logs / f"{log_name}.log"
    deselect = [a for nodeid in env.project.deselect for a in ("--deselect", nodeid)]
    command = [env.python, "-m", "pytest", "-p", "precision_outcomes", "-q"]
    command += [*env.project.options, *deselect, *args]
    with tempfile.TemporaryDirectory() as scratch:
        outcomes = Path(scratch) / "outcomes.json"
        with log.open("w") as out:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            start = time.perf_counter()
            child = subprocess.Popen(
                command,
                cwd=env.tree,
                env=child_env(outcomes),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            timed_out = False
            try:
                status = child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                status = child.wait()
                timed_out = True
            except BaseException:
                # Interrupted: the child runs in its own session, so it would outlive us.
                os.killpg(child.pid, signal.SIGKILL)
                raise
            seconds = time.perf_counter() - start
        if timed_out or not outcomes.exists():
            return Run(seconds, status, [], [], [], log, timed_out=timed_out)
        data = json.loads(outcomes.read_text())
    failing = list(dict.fromkeys(data["failed"] + data["errors"]))
    return Run(seconds, status, data["ran"], failing, data["collect_errors"], log)


def reset_state(env: Environment, restore: bool) -> None:
    """Removes what earlier runs left in the tree; puts the baseline's state back if `restore`."""
    for name in RUN_STATE:
        path = env.tree / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    if restore:
        for saved in env.snapshot.iterdir():
            target = env.tree / saved.name
            if saved.is_dir():
                shutil.copytree(saved, target)
            else:
                shutil.copy2(saved, target)


def save_state(env: Environment) -> None:
    shutil.rmtree(env.snapshot, ignore_errors=True)
    env.snapshot.mkdir(parents=True)
    for name in RUN_STATE:
        path = env.tree / name
        if path.is_dir():
            shutil.copytree(path, env.snapshot / name)
        elif path.exists():
            shutil.copy2(path, env.snapshot / name)


def write_source(tree: Path, relative: str, text: str) -> None:
    """Writes a source file and drops its cached byte code, so that no interpreter can take a
    stale .pyc for the new text (pyc validation has one-second mtime resolution)."""
    path = tree / relative
    path.write_text(text, encoding="utf-8")
    for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
        cached.unlink()


def apply(mutant: Mutant, tree: Path) -> str:
    original = mutant.apply(tree)
    for cached in ((tree / mutant.path).parent / "__pycache__").glob(
        f"{Path(mutant.path).stem}.*.pyc"
    ):
        cached.unlink()
    return original


# -- one project -----------------------------------------------------------------------------


@dataclass
class ProjectResult:
    project: Project
    suite: int
    clean_seconds: float
    nochange_selected: dict[str, int]
    outcomes: list[Outcome]
    rejected: dict[str, int]
    candidates: dict[str, int]


class ProjectBench:
    def __init__(self, args: argparse.Namespace, project: Project, envs: dict[str, Environment]):
        self.args = args
        self.project = project
        self.envs = envs
        self.oracle = envs["difftest"]  # plain pytest in the same venv and tree
        self.rejected: dict[str, int] = {}

    def clean_runs(self) -> tuple[list[str], float]:
        """Two full runs of the unmutated tree: they must pass and agree on the test ids."""
        runs = []
        for attempt in (1, 2):
            reset_state(self.oracle, restore=False)
            run = pytest(self.oracle, [], f"clean-{attempt}", timeout=900)
            if run.failing or run.collect_errors or run.exit != 0 or run.timed_out:
                problems = (run.failing + run.collect_errors)[:10]
                raise BenchError(
                    f"{self.project.name}: the unmutated suite is not green (exit {run.exit}; "
                    f"{problems}); add environment-specific failures to its `deselect` list "
                    f"in projects.py. Log: {run.log}"
                )
            runs.append(run)
        if set(runs[0].ran) != set(runs[1].ran):
            changed = sorted(set(runs[0].ran) ^ set(runs[1].ran))[:5]
            raise BenchError(f"{self.project.name}: test ids differ between two runs: {changed}")
        return runs[0].ran, min(r.seconds for r in runs)

    def baseline(self, tool: str, timeout: float) -> int:
        """Records the tool's baseline on the unmutated tree, saves it, and returns how many
        tests a run with no change selects (0 unless the tool always runs some)."""
        env = self.envs[tool]
        reset_state(env, restore=False)
        run = pytest(env, BASELINE_ARGS[tool], f"{tool}-baseline", timeout)
        if run.timed_out:
            raise BenchError(
                f"{self.project.name}: {tool} baseline did not end within {timeout:.0f}s: {run.log}"
            )
        if run.exit != 0 or run.failing:
            raise BenchError(f"{self.project.name}: {tool} baseline exited {run.exit}: {run.log}")
        save_state(env)
        reset_state(env, restore=True)
        check = pytest(env, TOOL_ARGS[tool], f"{tool}-nochange", timeout)
        if check.exit not in USABLE_EXIT or check.timed_out:
            raise BenchError(f"{self.project.name}: {tool} no-change run exited {check.exit}")
        return len(check.ran)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def run(self, modules: dict[str, str], per_kind: int, kinds: Iterable[str]) -> ProjectResult:
        name = self.project.name
        suite_ids, clean_seconds = self.clean_runs()
        say(f"{name}: {len(suite_ids)} tests, full run {clean_seconds:.1f}s")
        # Generous: a mutant that fails half the suite prints a traceback per test (click's
        # core.py:457 took 52 s against a 5 s clean run), and which mutants a report samples
        # must not depend on how busy the machine was.
        oracle_timeout = max(180.0, 30 * clean_seconds)
        tool_timeout = 3 * oracle_timeout
        nochange = {t: self.baseline(t, tool_timeout) for t in self.envs}
        say(f"{name}: baselines recorded; no-change runs selected {nochange}")
        eligible = importable(self.oracle, modules.values())
        files = [path for path, module in modules.items() if module in eligible]
        candidates = sites(self.oracle.tree, files)
        counts = {kind: sum(1 for m in candidates if m.kind == kind) for kind in KINDS}
        outcomes: list[Outcome] = []
        for kind in kinds:
            accepted = 0
            for mutant in shuffled(candidates, self.args.seed, name, kind):
                if accepted == per_kind:
                    break
                outcome = self.mutant(mutant, modules[mutant.path], oracle_timeout, tool_timeout)
                if outcome is not None:
                    outcomes.append(outcome)
                    accepted += 1
                    say(f"{name}: {kind} {accepted}/{per_kind} {mutant.key} {summary(outcome)}")
        self.check_restored()
        return ProjectResult(
            self.project, len(suite_ids), clean_seconds, nochange, outcomes, self.rejected, counts
        )

    def mutant(
        self, mutant: Mutant, module: str, oracle_timeout: float, tool_timeout: float
    ) -> Outcome | None:
        oracle = self.oracle
        tag = f"{mutant.kind}-{mutant.path.replace('/', '.')}-{mutant.line}-{mutant.column}"
        original = apply(mutant, oracle.tree)
        try:
            if module not in importable(oracle, [module]):
                self.reject("does not import")
                return None
            reset_state(oracle, restore=False)
            truth = pytest(oracle, [], f"{tag}-oracle", oracle_timeout)
            if truth.timed_out:
                self.reject("oracle timed out")
                return None
            if truth.collect_errors or truth.exit not in (0, 1):
                self.reject("breaks collection")
                return None
            results = {
                tool: self.tool_run(tool, mutant, tag, truth, tool_timeout) for tool in self.envs
            }
            missed = sorted({t for r in results.values() for t in r.missed})
            if missed:
                confirmed = self.confirm(mutant, missed, original)
                for result in results.values():
                    result.confirmed = [t for t in result.missed if t in confirmed]
        finally:
            write_source(oracle.tree, mutant.path, original)
        suite = len(truth.ran)
        return Outcome(mutant, truth.seconds, suite, truth.failing, results)

    def tool_run(
        self, tool: str, mutant: Mutant, tag: str, truth: Run, timeout: float
    ) -> ToolResult:
        env = self.envs[tool]
        original = apply(mutant, env.tree) if env.tree != self.oracle.tree else None
        try:
            reset_state(env, restore=True)
            run = pytest(env, TOOL_ARGS[tool], f"{tag}-{tool}", timeout)
        finally:
            if original is not None:
                write_source(env.tree, mutant.path, original)
        error = ""
        if run.timed_out:
            error = "timed out"
        elif run.exit not in USABLE_EXIT or run.collect_errors:
            error = f"exit status {run.exit}"
        ran = set(run.ran)
        missed = [t for t in truth.failing if t not in ran]
        selected = len(ran & set(truth.ran))
        return ToolResult(run.seconds, selected, missed, error=error)

    def confirm(self, mutant: Mutant, missed: list[str], original: str) -> set[str]:
        """The missed tests that fail again when run alone on the mutated tree and pass on the
        unmutated one: misses that are not flakes or order effects."""
        oracle = self.oracle
        tag = f"{mutant.kind}-{mutant.path.replace('/', '.')}-{mutant.line}-{mutant.column}"
        reset_state(oracle, restore=False)
        mutated = pytest(oracle, missed, f"{tag}-confirm-mutated", timeout=600)
        write_source(oracle.tree, mutant.path, original)
        try:
            reset_state(oracle, restore=False)
            clean = pytest(oracle, missed, f"{tag}-confirm-clean", timeout=600)
        finally:
            apply(mutant, oracle.tree)
        passed_clean = set(clean.ran) - set(clean.failing)
        return set(mutated.failing) & passed_clean

    def check_restored(self) -> None:
        """Every source file is back to the sdist's text: no mutant leaked into the next."""
        for env in {e.tree: e for e in self.envs.values()}.values():
            pristine = env.tree.with_name(env.tree.name + ".pristine")
            extract(self.args.sdists[self.project.name], pristine)
            for path in pristine.rglob("*.py"):
                relative = path.relative_to(pristine)
                if (env.tree / relative).read_bytes() != path.read_bytes():
                    raise BenchError(f"{env.tree / relative} differs from the sdist after the run")
            shutil.rmtree(pristine)


def summary(outcome: Outcome) -> str:
    parts = [f"{len(outcome.failing)} failing of {outcome.suite}"]
    for tool, result in outcome.tools.items():
        text = f"{tool} {result.selected} run"
        if result.missed:
            text += f", {len(result.missed)} MISSED"
        if result.error:
            text += f", ERROR {result.error}"
        parts.append(text)
    return "; ".join(parts)


# -- the report ------------------------------------------------------------------------------


def share(result: ToolResult, outcome: Outcome) -> float:
    return result.selected / outcome.suite if outcome.suite else 0.0


def figures(outcomes: list[Outcome], tool: str) -> dict[str, object]:
    mine = [(o, o.tools[tool]) for o in outcomes if tool in o.tools]
    if not mine:
        return {}
    shares = [share(r, o) for o, r in mine]
    body = [share(r, o) for o, r in mine if o.mutant.kind == "body"]
    ratios = [r.seconds / o.oracle_seconds for o, r in mine]
    return {
        "mutants": len(mine),
        "mutants_with_miss": sum(1 for _, r in mine if r.missed),
        "missed_runs": sum(len(r.missed) for _, r in mine),
        "mutants_with_confirmed_miss": sum(1 for _, r in mine if r.confirmed),
        "confirmed_missed_runs": sum(len(r.confirmed) for _, r in mine),
        "mean_share": statistics.mean(shares),
        "mean_share_body": statistics.mean(body) if body else None,
        "time_ratio_total": sum(r.seconds for _, r in mine)
        / sum(o.oracle_seconds for o, _ in mine),
        "time_ratio_median": statistics.median(ratios),
        "errors": sum(1 for _, r in mine if r.error),
    }


def pct(value: object) -> str:
    return "-" if value is None else f"{float(value) * 100:.0f}%"  # type: ignore[arg-type]


def caught(outcomes: list[Outcome]) -> int:
    return sum(1 for o in outcomes if o.failing)


def render(meta: dict[str, object], results: list[ProjectResult], tools: list[str]) -> str:
    everything = [o for r in results for o in r.outcomes]
    lines = [
        "# Precision benchmark: real projects, seeded mutants",
        "",
        *(f"- {key}: {value}" for key, value in meta.items()),
        "",
        "A mutant's missed tests are the tests that fail (or error) in a full run of the mutated",
        "tree but that the tool did not run. *Confirmed*: each also fails when run alone on the",
        "mutated tree and passes on the unmutated one. The selected share counts every mutant,",
        "also those no test catches. Wall time: the tool's run against the full run of the same",
        "mutated tree (total over all mutants; median of the per-mutant ratios in brackets).",
        "",
    ]
    lines += overall_section(everything, tools)
    lines += project_section(results, tools)
    lines += kind_section(results, tools)
    lines += missed_section(everything, tools)
    lines += setup_section(results)
    return "\n".join(lines)


def overall_section(everything: list[Outcome], tools: list[str]) -> list[str]:
    lines = [
        "## Overall",
        "",
        "| tool | mutants | with a missed test / missed test runs | confirmed | mean share of "
        "the suite selected | on function-body mutants | wall vs full run |",
        "| --- | ---: | --- | --- | ---: | ---: | --- |",
    ]
    for tool in tools:
        f = figures(everything, tool)
        if f:
            lines.append(
                f"| {tool} | {f['mutants']} | {f['mutants_with_miss']} / {f['missed_runs']} "
                f"| {f['mutants_with_confirmed_miss']} / {f['confirmed_missed_runs']} "
                f"| {pct(f['mean_share'])} | {pct(f['mean_share_body'])} "
                f"| {f['time_ratio_total']:.2f}x ({f['time_ratio_median']:.2f}x) |"
            )
    lines += [
        "",
        f"{len(everything)} mutants, {caught(everything)} caught by at least one test.",
        "",
    ]
    return lines


def project_section(results: list[ProjectResult], tools: list[str]) -> list[str]:
    head = "| project | tests | full run | mutants (caught) |"
    rule = "| --- | ---: | ---: | ---: |"
    for tool in tools:
        head += f" {tool}: missed mutants / runs | {tool}: share | {tool}: wall |"
        rule += " --- | ---: | ---: |"
    lines = ["## Per project", "", head, rule]
    for result in results:
        row = (
            f"| {result.project.name} {result.project.version} | {result.suite} "
            f"| {result.clean_seconds:.1f}s | {len(result.outcomes)} ({caught(result.outcomes)}) |"
        )
        for tool in tools:
            f = figures(result.outcomes, tool)
            row += (
                f" {f['mutants_with_miss']} / {f['missed_runs']} | {pct(f['mean_share'])} "
                f"| {f['time_ratio_total']:.2f}x |"
                if f
                else " - | - | - |"
            )
        lines.append(row)
    return [*lines, ""]


def kind_section(results: list[ProjectResult], tools: list[str]) -> list[str]:
    everything = [o for r in results for o in r.outcomes]
    head = "| kind | mutants (caught) |" + "".join(f" {t}: share | {t}: missed |" for t in tools)
    lines = ["## By kind of mutant: mean share of the suite selected, mutants with a miss", ""]
    lines += [head, "| --- | ---: |" + " ---: | ---: |" * len(tools)]
    for kind in KINDS:
        of_kind = [o for o in everything if o.mutant.kind == kind]
        if of_kind:
            row = f"| {kind} | {len(of_kind)} ({caught(of_kind)}) |"
            for tool in tools:
                f = figures(of_kind, tool)
                row += f" {pct(f['mean_share'])} | {f['mutants_with_miss']} |" if f else " - | - |"
            lines.append(row)
    lines += ["", f"Per project and kind (each cell: {' / '.join(tools)}):", ""]
    lines += ["| project | " + " | ".join(KINDS) + " |", "| --- |" + " --- |" * len(KINDS)]
    for result in results:
        cells = []
        for kind in KINDS:
            of_kind = [o for o in result.outcomes if o.mutant.kind == kind]
            shares = [pct(figures(of_kind, t).get("mean_share")) for t in tools]
            cells.append(" / ".join(shares) if of_kind else "-")
        lines.append(f"| {result.project.name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def missed_section(everything: list[Outcome], tools: list[str]) -> list[str]:
    lines = ["## Missed tests", ""]
    for tool in tools:
        for o in everything:
            result = o.tools.get(tool)
            if not result or not result.missed:
                continue
            m = o.mutant
            ids = ", ".join(f"`{t}`" for t in result.missed[:8])
            more = f" and {len(result.missed) - 8} more" if len(result.missed) > 8 else ""
            lines.append(
                f"- **{tool}** {m.path}:{m.line} ({m.kind}, in `{m.scope}`, "
                f"{m.describe()}): {len(result.missed)} missed of {len(o.failing)} failing, "
                f"{len(result.confirmed)} confirmed: {ids}{more}"
            )
    if len(lines) == 2:
        lines.append("None.")
    errors = [(t, o) for o in everything for t, r in o.tools.items() if r.error]
    if errors:
        lines += ["", "## Tool runs that did not work", ""]
        lines += [f"- {t}: {o.mutant.key}: {o.tools[t].error}" for t, o in errors]
    return [*lines, ""]


def setup_section(results: list[ProjectResult]) -> list[str]:
    lines = [
        "## Projects",
        "",
        "| project | sdist sha256 | mutation sites per kind | rejected candidates "
        "| no-change run selected | why |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        p = result.project
        kinds = ", ".join(f"{k} {n}" for k, n in result.candidates.items())
        rejected = ", ".join(f"{k}: {n}" for k, n in sorted(result.rejected.items())) or "none"
        nochange = ", ".join(f"{t} {n}" for t, n in result.nochange_selected.items())
        lines.append(
            f"| {p.name} {p.version} | `{p.sha256[:16]}...` | {kinds} | {rejected} | {nochange} "
            f"| {p.why} |"
        )
    deselected = [(p.name, d) for p in (r.project for r in results) for d in p.deselect]
    if deselected:
        lines += ["", "Deselected in every run (they fail on the unmutated tree here):"]
        lines += [f"- {name}: `{d}`" for name, d in deselected]
    options = [(r.project.name, r.project.options) for r in results if r.project.options]
    if options:
        lines += ["", "Options of every run of a project (see projects.py for why):"]
        lines += [f"- {name}: `{' '.join(o)}`" for name, o in options]
    return [*lines, ""]


def as_json(meta: dict[str, object], results: list[ProjectResult], tools: list[str]) -> str:
    everything = [o for r in results for o in r.outcomes]
    data = {
        "meta": meta,
        "overall": {t: figures(everything, t) for t in tools},
        "projects": [
            {
                "name": r.project.name,
                "version": r.project.version,
                "sha256": r.project.sha256,
                "tests": r.suite,
                "full_run_seconds": round(r.clean_seconds, 3),
                "nochange_selected": r.nochange_selected,
                "rejected": r.rejected,
                "sites": r.candidates,
                "figures": {t: figures(r.outcomes, t) for t in tools},
                "mutants": [
                    {
                        **o.mutant.as_dict(),
                        "oracle_seconds": round(o.oracle_seconds, 3),
                        "tests": o.suite,
                        "failing_count": len(o.failing),
                        "failing": o.failing[:FAILING_IDS_KEPT],
                        "tools": {
                            t: {
                                "seconds": round(res.seconds, 3),
                                "selected": res.selected,
                                "share": round(share(res, o), 4),
                                "missed": res.missed,
                                "confirmed": res.confirmed,
                                "error": res.error,
                            }
                            for t, res in o.tools.items()
                        },
                    }
                    for o in r.outcomes
                ],
            }
            for r in results
        ],
    }
    return json.dumps(data, indent=1) + "\n"


# -- main ------------------------------------------------------------------------------------


def interpreter(python: str) -> tuple[str, str]:
    """(full version, "py3.X" tag) of the interpreter that runs the tests."""
    out = check_call(
        [python, "-c", "import platform; print(platform.python_version())"],
        f"running {python}",
    ).strip()
    major, minor = out.split(".")[:2]
    return out, f"py{major}.{minor}"


def plugin_revision() -> str:
    try:
        rev = check_call(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], "git").strip()
        dirty = check_call(
            [
                "git",
                "-C",
                str(REPO),
                "status",
                "--porcelain",
                "--",
                "src",
                "python",
                "Cargo.toml",
                "pyproject.toml",
            ],
            "git",
        ).strip()
    except (BenchError, OSError):
        return "unknown"
    return rev + (" with uncommitted changes" if dirty else "")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", default=",".join(PROJECTS), help="comma-separated")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated")
    parser.add_argument("--mutants-per-kind", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the venvs")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated")
    parser.add_argument(
        "--work",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        / "pytest-difftest-precision",
        help="sdists, venvs, trees and logs (venvs are reused while their pins are unchanged)",
    )
    parser.add_argument("--out", type=Path, help="default: benches/results/PRECISION[-pyX.Y].md")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help=f"CI: {SMOKE_PROJECT} only, one mutant of each of {', '.join(SMOKE_KINDS)}; "
        "the report goes to the work directory",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.projects, args.kinds, args.mutants_per_kind = SMOKE_PROJECT, ",".join(SMOKE_KINDS), 1
    args.project_list = [p.strip() for p in args.projects.split(",") if p.strip()]
    args.kind_list = [k.strip() for k in args.kinds.split(",") if k.strip()]
    args.tool_list = [t.strip() for t in args.tools.split(",") if t.strip()]
    for value, known, what in (
        (args.project_list, PROJECTS, "project"),
        (args.kind_list, KINDS, "kind"),
        (args.tool_list, TOOLS, "tool"),
    ):
        unknown = [v for v in value if v not in known]
        if unknown or not value:
            parser.error(f"unknown {what} {unknown or value}; choose from {', '.join(known)}")
    if "difftest" not in args.tool_list:
        parser.error("--tools must include difftest: its venv runs the oracle")
    if args.mutants_per_kind < 1:
        parser.error("--mutants-per-kind must be at least 1")
    return args


def measure(
    args: argparse.Namespace,
    project: Project,
    *,
    work: Path,
    tag: str,
    constraints: Path,
    wheel: Path,
) -> ProjectResult:
    envs = {}
    for tool in args.tool_list:
        env = Environment(work, project, tool, args.python, tag)
        extract(args.sdists[project.name], env.tree)
        say(f"{project.name}: preparing the {tool} venv")
        prepare_venv(env, constraints, wheel if tool == "difftest" else None)
        envs[tool] = env
    modules = source_files(envs["difftest"].tree, project)
    bench = ProjectBench(args, project, envs)
    return bench.run(modules, args.mutants_per_kind, args.kind_list)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: the running pytest is killed, the mutated file restored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.perf_counter()
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    version, tag = interpreter(args.python)
    out = args.out or (
        work / f"PRECISION-smoke-{tag}.md"
        if args.smoke
        else HERE.parent
        / "results"
        / ("PRECISION.md" if tag == "py3.11" else f"PRECISION-{tag}.md")
    )
    constraints = work / "constraints.txt"
    constraints.write_text("\n".join(CONSTRAINTS) + "\n")
    # Read before the build, not when publishing: the checkout may move on during a run.
    revision = plugin_revision()
    try:
        wheel = build_wheel(work)
        args.sdists = {name: fetch_sdist(work, PROJECTS[name]) for name in args.project_list}
    except BenchError as error:
        say(f"error: {error}")
        return 1
    results: list[ProjectResult] = []
    # A project whose setup or baseline broke is reported and skipped, so that one project
    # does not throw away the hours spent on the others.
    broken_projects: dict[str, str] = {}
    command = "python benches/precision/run.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )

    def publish() -> None:
        """Writes the report of the projects done so far (rewritten after each project, so
        that an interrupted run keeps what it measured)."""
        minutes = (time.perf_counter() - started) / 60
        meta: dict[str, object] = {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": f"{os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} "
            f"{platform.release()}",
            "python": f"{version} ({args.python})",
            "pytest-difftest": f"{revision} (built from this checkout)",
            "pins": f"{PYTEST}, {', '.join(TESTMON)} (testmon's venv only); all pins in "
            "benches/precision/projects.py",
            "seed": args.seed,
            "mutants per kind and project": args.mutants_per_kind,
            "commands": "oracle `pytest`; difftest `pytest --diff` after `pytest "
            "--diff-baseline`; testmon `pytest --testmon` after `pytest --testmon`; every run "
            "with `-p precision_outcomes -q` and the project's deselected tests",
            "command line": f"`{command.strip()}`",
            "duration": f"{minutes:.0f} min",
        }
        done = len(results) + len(broken_projects)
        if done < len(args.project_list):
            meta["incomplete"] = f"{done} of {len(args.project_list)} projects so far"
        if broken_projects:
            meta["not measured (a setup or baseline run failed)"] = "; ".join(
                broken_projects.values()
            )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(meta, results, args.tool_list))
        out.with_suffix(".json").write_text(as_json(meta, results, args.tool_list))
        say(f"written to {out} and {out.with_suffix('.json').name} after {minutes:.0f} min")

    for name in args.project_list:
        try:
            results.append(
                measure(
                    args, PROJECTS[name], work=work, tag=tag, constraints=constraints, wheel=wheel
                )
            )
        except BenchError as error:
            say(f"error: {error}")
            broken_projects[name] = str(error).splitlines()[0]
        publish()
    if broken_projects:
        say(f"error: not measured: {', '.join(broken_projects)}")
        return 1
    everything = [o for r in results for o in r.outcomes]
    broken = [o for o in everything if any(r.error for r in o.tools.values())]
    if broken:
        say(f"error: {len(broken)} mutants had a tool run that did not work; see the report")
        return 1
    wanted = len(args.kind_list) * args.mutants_per_kind * len(results)
    if args.smoke and len(everything) < wanted:
        say(f"error: the smoke run made {len(everything)} of {wanted} mutants")
        return 1
    # A miss is the one result the smoke exists to catch: a test that fails on a mutant that
    # `--diff` did not run.
    missed = [o for o in everything if o.tools["difftest"].confirmed]
    if args.smoke and missed:
        say(f"error: difftest missed failing tests on {len(missed)} mutants; see the report")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
