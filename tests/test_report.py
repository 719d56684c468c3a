"""`pytest-difftest report`: one self-contained HTML page, loaded in real headless chromium.

The page renders its embedded JSON with JavaScript, so finding test names in rendered elements
of the dumped DOM proves that the script ran; chromium's console log proves it ran without
errors."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from difftest_support import Project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs chromium (.ci/run): there a missing browser is a failure, not a skip.
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="chromium is not installed (apt-get install -y chromium); .ci/run installs it",
)


def render(page: Path, tmp_path: Path, fragment: str = "") -> str:
    """The DOM chromium built from `page` after its scripts ran; fails on any console error."""
    assert CHROMIUM is not None, "CI=true but chromium is not installed"
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=180,  # a guard against a hung browser, not a performance check
        check=False,
    )
    assert result.returncode == 0, result.stderr
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    return result.stdout


def rendered(dom: str, css_class: str) -> list[str]:
    """Texts of the elements with `css_class` that the script created (not the JSON source)."""
    return [html.unescape(text) for text in re.findall(rf'class="{css_class}">([^<]*)<', dom)]


def visible(dom: str, css_class: str) -> list[str]:
    """Like `rendered`, for elements in a block the search did not hide."""
    found = []
    for block in re.findall(r"<details([^>]*)>(.*?)</details>", dom, flags=re.DOTALL):
        attributes, inner = block
        if "hidden" not in attributes:
            found.extend(rendered(inner, css_class))
    return found


def make_report(project: Project) -> Path:
    result = project.cli("report", "-o", "out/report.html")
    assert result.ret == 0, result.stderr.str()
    result.stdout.fnmatch_lines(["pytest-difftest: wrote out/report.html (* KiB)"])
    return project.root / "out/report.html"


def test_page_is_self_contained(project: Project) -> None:
    project.settled()
    page = make_report(project).read_text(encoding="utf-8")
    # No network: nothing is fetched from anywhere.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "tests/test_calc.py::test_add" in page


@needs_chromium
def test_page_renders_in_chromium(project: Project, tmp_path: Path) -> None:
    project.write(
        "tests/test_odd.py",
        """
        import pytest


        @pytest.mark.parametrize("text", ["</script><b>bold</b>"])
        def test_odd(text):
            assert text
        """,
    )
    project.settled()
    project.replace("src/pkg/calc.py", "return a + b", "return b + a")
    project.diff()
    dom = render(make_report(project), tmp_path)
    names = rendered(dom, "test-name")
    assert sorted(names) == sorted(
        nodeid for (nodeid,) in project.stored("SELECT nodeid FROM test")
    )
    assert "tests/test_odd.py::test_odd[</script><b>bold</b>]" in names
    assert "<b>bold</b>" not in dom.split('id="difftest-data"')[0]  # never markup
    assert "src/pkg/calc.py" in rendered(dom, "file-name")
    # The last --diff selection with its reason.
    assert rendered(dom, "mono selected-name") == ["tests/test_calc.py::test_add"]
    assert rendered(dom, "reason") == ["src/pkg/calc.py::add changed"]
    # Per test, its dependencies (inverted from the file view by the script).
    assert "src/pkg/calc.py::add" in dom
    assert re.search(r'data-rendered="6"', dom)


@needs_chromium
def test_search_hides_what_does_not_match(project: Project, tmp_path: Path) -> None:
    project.settled()
    dom = render(make_report(project), tmp_path, "#search=shout")
    assert visible(dom, "test-name") == ["tests/test_text.py::test_shout"]
    assert visible(dom, "file-name") == ["src/pkg/text.py", "tests/test_text.py"]


def test_no_database_is_an_error(project: Project) -> None:
    result = project.cli("report", "-o", "report.html")
    assert result.ret == 2
    result.stderr.fnmatch_lines(["pytest-difftest: no database at *"])
    assert not (project.root / "report.html").exists()
