"""A tiny shop, the demo project for pytest-difftest."""
