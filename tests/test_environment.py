"""The environment tests run in: pytest's configuration, installed distributions."""

from __future__ import annotations

import pytest

from difftest_support import ALL_TESTS, Project, ran

SITE = "site-packages"  # a directory name the project never tracks as its own code


def write_distribution(project: Project, name: str, version: str) -> None:
    """A minimal installed distribution: metadata plus one module, as pip would leave it."""
    info = f"{SITE}/{name}-{version}.dist-info"
    for old in (project.root / SITE).glob(f"{name}-*.dist-info"):
        for file in old.iterdir():
            file.unlink()
        old.rmdir()
    project.write(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    project.write(f"{info}/top_level.txt", f"{name}\n")
    project.write(f"{SITE}/{name}/__init__.py", "def value():\n    return 1\n")


DIST_TESTS = {
    "tests/test_uses_foo.py": """
        import foo


        def test_foo():
            assert foo.value() == 1
    """,
    "tests/test_uses_bar.py": """
        from bar import value


        def test_bar():
            assert value() == 1
    """,
}


@pytest.fixture
def dist_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    write_distribution(project, "foo", "1.0")
    write_distribution(project, "bar", "2.0")
    project.write_files(DIST_TESTS)
    monkeypatch.setenv("PYTHONPATH", str(project.root / SITE))
    project.settled()
    return project


def test_patch_upgrade_selects_only_the_tests_that_used_the_distribution(
    dist_project: Project,
) -> None:
    assert ran(dist_project.diff()) == set()
    write_distribution(dist_project, "foo", "1.0.1")
    result = dist_project.diff("--diff-explain")
    assert ran(result) == {"test_foo"}
    result.stdout.fnmatch_lines(["*test_foo: installed package foo changed version or location"])
    dist_project.baseline()
    assert ran(dist_project.diff()) == set()


@pytest.mark.parametrize("where", ["module", "function"])
def test_every_test_reaching_a_distribution_through_project_code_depends_on_it(
    project: Project, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    # Test modules that never import foo themselves; project code imports it, at module level
    # or inside the function. Python 3.12+ reports foo's code only to the first test that
    # runs it, so the later ones depend on foo through the project code they ran.
    write_distribution(project, "foo", "1.0")
    monkeypatch.setenv("PYTHONPATH", str(project.root / SITE))
    if where == "module":
        project.write("src/pkg/lib.py", "import foo\n\n\ndef get():\n    return foo.value()\n")
    else:
        project.write("src/pkg/lib.py", "def get():\n    import foo\n\n    return foo.value()\n")
    for name in ("first", "second", "third"):
        project.write(
            f"tests/test_{name}.py",
            f"from pkg.lib import get\n\n\ndef test_{name}():\n    assert get() == 1\n",
        )
    project.settled()
    write_distribution(project, "foo", "1.0.1")
    assert ran(project.diff()) == {"test_first", "test_second", "test_third"}


def test_uninstalled_distribution_selects_its_users(dist_project: Project) -> None:
    for file in (dist_project.root / SITE / "bar-2.0.dist-info").iterdir():
        file.unlink()
    (dist_project.root / SITE / "bar-2.0.dist-info").rmdir()
    result = dist_project.diff("--diff-explain")
    assert ran(result) == {"test_bar"}
    result.stdout.fnmatch_lines(["*test_bar: installed package bar was uninstalled"])


def test_pytest_ini_change_selects_everything_and_says_why(project: Project) -> None:
    project.settled()
    project.write(
        "pyproject.toml", project.read("pyproject.toml") + 'python_functions = ["test_*"]\n'
    )
    result = project.diff()
    assert ran(result) == ALL_TESTS
    result.stdout.fnmatch_lines(["difftest: the pytest configuration changed: every test*"])


def test_other_sections_of_the_config_file_do_not_matter(project: Project) -> None:
    project.settled()
    project.write("pyproject.toml", project.read("pyproject.toml") + "\n[tool.other]\nx = 1\n")
    assert ran(project.diff()) == set()


@pytest.mark.parametrize(
    ("name", "section"),
    [("pytest.ini", "pytest"), ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")],
)
def test_ini_style_config_files(project: Project, name: str, section: str) -> None:
    project.delete("pyproject.toml")
    project.write(name, f"[{section}]\npythonpath = src\ntestpaths = tests\n\n[other]\nx = 1\n")
    project.settled()
    project.replace(name, "x = 1", "x = 2")
    assert ran(project.diff()) == set()
    project.replace(name, "testpaths = tests", "testpaths = tests\naddopts = -ra")
    assert ran(project.diff()) == ALL_TESTS


def test_upgraded_pytest_plugin_selects_everything(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def install_plugin(version: str) -> None:
        write_distribution(project, "pytest_fake", version)
        info = f"{SITE}/pytest_fake-{version}.dist-info"
        project.write(f"{info}/entry_points.txt", "[pytest11]\nfake = pytest_fake\n")

    project.load_installed_plugins()
    install_plugin("1.0")
    monkeypatch.setenv("PYTHONPATH", str(project.root / SITE))
    result = project.settled()
    result.stdout.fnmatch_lines(["plugins: *fake-1.0*"])
    assert ran(project.diff()) == set()
    install_plugin("1.0.1")
    result = project.diff()
    assert ran(result) == ALL_TESTS
    result.stdout.fnmatch_lines(["difftest: the installed pytest plugins changed: every test*"])


def test_upgraded_requirement_of_a_pytest_plugin_selects_everything(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the plugins require is kept between sessions (reading it parses their metadata):
    # upgrading a requirement, the plugin unchanged, must still be seen.
    write_distribution(project, "fake_requirement", "1.0")
    write_distribution(project, "pytest_fake", "1.0")
    info = f"{SITE}/pytest_fake-1.0.dist-info"
    project.write(f"{info}/entry_points.txt", "[pytest11]\nfake = pytest_fake\n")
    metadata = project.read(f"{info}/METADATA")
    project.write(f"{info}/METADATA", metadata + "Requires-Dist: fake_requirement\n")
    project.load_installed_plugins()
    monkeypatch.setenv("PYTHONPATH", str(project.root / SITE))
    project.settled()
    assert (project.root / ".pytest_cache/pytest-difftest/machinery.json").is_file()
    assert ran(project.diff()) == set()
    write_distribution(project, "fake_requirement", "1.1")
    result = project.diff()
    assert ran(result) == ALL_TESTS
    result.stdout.fnmatch_lines(["difftest: the installed pytest plugins changed: every test*"])


def test_distribution_installed_after_a_baseline_is_known_to_the_next(
    dist_project: Project,
) -> None:
    # The import-name → distribution map is kept between sessions: installing must refresh it.
    assert (dist_project.root / ".pytest_cache/pytest-difftest/import-owners.json").is_file()
    write_distribution(dist_project, "baz", "1.0")
    dist_project.write(
        "tests/test_uses_baz.py", "import baz\n\n\ndef test_baz():\n    assert baz.value() == 1\n"
    )
    dist_project.baseline()
    write_distribution(dist_project, "baz", "1.1")
    assert ran(dist_project.diff()) == {"test_baz"}
