"""The real projects the precision benchmark mutates: pinned sdists and pinned test environments.

Each project is installed from its PyPI sdist (checked against the sha256 below) in editable
mode, so the tests run the extracted tree the benchmark edits. Chosen because their sdists ship
their test suites, the suites pass here and run in seconds, and their code covers the mutant
kinds: classes with class-level attributes, decorators with arguments, many defaults.

Not chosen (tried at their latest release): packaging 26.4 (64,000 parametrized tests, 70 s),
pyparsing 3.3.3 (75 s), python-dateutil 4.0.0 (35 s, and three tests that depend on the
system's zoneinfo), more-itertools 11.2.1 (one test takes 13 s of its 27 s), sortedcontainers
2.4.0 (no tests in the sdist).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PYTEST = "pytest==9.2.0"
TESTMON = ["pytest-testmon==2.2.0", "coverage==7.17.5"]

# Every distribution any benchmark venv may hold, pinned; a venv holding anything else is an
# error (run.py checks `pip freeze`), so that a rerun next year installs the same code.
CONSTRAINTS = [
    PYTEST,
    *TESTMON,
    "iniconfig==2.3.1",
    "packaging==26.4",
    "pluggy==1.7.0",
    "pygments==2.21.0",
    "hypothesis==6.170.17",
    "sortedcontainers==2.4.0",
    "pympler==1.1",
    "cloudpickle==3.1.3",
    "markupsafe==3.0.4",
    "trio==0.35.0",
    "attrs==26.1.0",
    "idna==3.20",
    "outcome==1.3.0.post0",
    "sniffio==1.3.1",
]


@dataclass(frozen=True)
class Project:
    name: str  # the PyPI name
    version: str
    sha256: str  # of the sdist
    packages: list[str]  # directories of the project's own code, relative to the sdist root
    test_requires: list[str] = field(default_factory=list)
    # Tests that fail on the unmutated tree in this environment; deselected in every run.
    deselect: list[str] = field(default_factory=list)
    # Further pytest options for every run (oracle and tools alike).
    options: list[str] = field(default_factory=list)
    why: str = ""

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


PROJECTS: dict[str, Project] = {
    p.name: p
    for p in [
        Project(
            "attrs",
            "26.1.0",
            "d03ceb89cb322a8fd706d4fb91940737b6642aa36998fe130a9bc96c985eff32",
            ["src/attr", "src/attrs"],
            ["hypothesis", "pympler", "cloudpickle"],
            # Expects a return annotation that 3.11's inspect does not report for a wrapped
            # converter; fails the same on the unmutated tree.
            ["tests/test_converters.py::TestPipe::test_wrapped_annotation"],
            why="class-building decorators and one large module (`_make.py`); hypothesis tests",
        ),
        Project(
            "boltons",
            "26.2.0",
            "d39cfd15c1a1c3bd4d705c82252fa9edb8e4f5e8cc039f8e39afac7b1b47e92c",
            ["boltons"],
            why="30 independent utility modules, one test file each; flat layout",
        ),
        Project(
            "cachetools",
            "8.0.2",
            "30ac523adfc118b51d2b2e7bad8a0ddb31370dfe2700c7f10ca224f36ccf81e0",
            ["src/cachetools"],
            why="small (8 modules) and fast (2 s): the CI smoke; decorators and cache classes",
        ),
        Project(
            "click",
            "8.5.1",
            "9bbfada76703fd1d784b83eea012e3e8c6a001a876543ef104fa56aaaeb072b4",
            ["src/click"],
            # click's addopts deselect its stress tests with `-m "not stress"`, and
            # pytest-testmon turns its selection off whenever `-m` is given (it would rerun the
            # whole suite for every change). The same tests are deselected by node id instead.
            options=[
                "-o",
                "addopts=",
                *(
                    f"--deselect=tests/{test}"
                    for test in (
                        "test_stream_lifecycle.py::test_stress_thread_pool_with_exit",
                        "test_stream_lifecycle.py::test_stress_logging_sequential_invocations",
                        "test_stream_lifecycle.py::test_stress_gc_between_invocations",
                        "test_utils/test_echo_via_pager.py::test_stress_echo_via_pager_exception_cleanup",
                    )
                ),
            ],
            why="decorator-built commands, deep class hierarchies, many defaults",
        ),
        Project(
            "jinja2",
            "3.1.6",
            "0137fb05990d35f1275a587e9aee6d56da821fc83491a0fb838183be43f66d6d",
            ["src/jinja2"],
            ["markupsafe", "trio"],
            why="a compiler: most tests run most of the code, module-level tables",
        ),
        Project(
            "toolz",
            "1.2.0",
            "9667a038e9d6ecba37995e26cb2f59ec6420b6ad8dd9677de59db9b956b08490",
            ["toolz"],
            why="functional helpers; tests inside the package; `curried` re-exports everything",
        ),
    ]
}
