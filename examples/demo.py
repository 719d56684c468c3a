"""The demo: record a baseline of examples/shop, change one function, and let --diff pick.

Run from anywhere: ``python examples/demo.py``. It works on a copy in a temporary directory and
exits non-zero if pytest-difftest selects anything other than the tests the change affects.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

SHOP = Path(__file__).resolve().parent / "shop"


def pytest(project: Path, *args: str) -> str:
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", *args]
    print(f"\n$ pytest {' '.join(args)}", flush=True)
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    print(done.stdout.rstrip())
    if done.returncode not in (0, 1):
        print(done.stderr, file=sys.stderr)
        raise SystemExit(f"pytest exited with {done.returncode}")
    return done.stdout


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "shop"
        shutil.copytree(SHOP, project)
        pytest(project, "-q", "--diff-baseline")
        unchanged = pytest(project, "-q", "--diff")
        models = project / "src" / "shop" / "models.py"
        print("\n# change Line.subtotal: a discount for three or more")
        models.write_text(
            models.read_text().replace(
                "return self.price * self.quantity",
                "return self.price * self.quantity * (0.9 if self.quantity >= 3 else 1)",
            )
        )
        changed = pytest(project, "-v", "--diff", "--diff-v")
    checks = [
        ("no change runs nothing", "0 of 5 tests selected" in unchanged),
        # test_empty_order never calls Line.subtotal, so the change cannot affect it.
        ("the change selects the 2 tests that call it", "2 of 5 tests selected" in changed),
        ("the formatting tests are not collected", "test_format" not in changed),
        ("the broken test fails", "FAILED tests/test_models.py::test_line_subtotal" in changed),
    ]
    print()
    for what, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
