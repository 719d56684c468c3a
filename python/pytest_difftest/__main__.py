"""``python -m pytest_difftest``: the command-line interface."""

from pytest_difftest.cli import main

raise SystemExit(main())
