"""Django, through pytest-django: what Django loads once per process and serves from memory.

* Templates: the cached loader reads a template file once; Django's test instrumentation
  sends ``template_rendered`` for every template rendered (included and extended ones too), so
  each test depends on the files of the templates it rendered.
* URLs: the URLconf is imported on the first request and kept, and Django reads its
  ``urlpatterns`` by name: a test that made a request relies on the URLconf modules whole
  (the root one and those it includes).

The settings module needs nothing here: pytest-django imports it before recording begins, and
a module imported then counts whole for every test (see `Recording.pytest_collection`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest


def active(config: pytest.Config) -> bool:
    return config.pluginmanager.get_plugin("django") is not None


class DjangoReads:
    """Listens to Django's signals while tests run."""

    def __init__(self) -> None:
        self.connected = False
        self.templates: set[str] = set()
        self.requested = False

    def test_begins(self) -> None:
        # Connecting imports `django.test`, most of Django: only once something imported
        # Django (pytest-django does while configuring, when the project uses it). A project
        # that merely has pytest-django installed pays nothing.
        if not self.connected and "django" in sys.modules:
            self.connected = True
            try:
                from django.core.signals import request_started
                from django.test.signals import template_rendered
            except Exception:  # Django installed but unusable here: the tests will say why
                return
            template_rendered.connect(self._rendered, weak=False)
            request_started.connect(self._requested, weak=False)
        self.templates.clear()
        self.requested = False

    def _rendered(self, sender: Any, template: Any = None, **kwargs: Any) -> None:
        name = getattr(getattr(template, "origin", None), "name", None)
        if isinstance(name, str) and os.path.isabs(name):  # not a template made from a string
            self.templates.add(name)

    def _requested(self, sender: Any, **kwargs: Any) -> None:
        self.requested = True

    def after_test(self, reads: set[str], data_file: Callable[[str], str | None]) -> list[str]:
        reads.update(path for path in map(data_file, self.templates) if path is not None)
        return _urlconf_files() if self.requested else []


def _urlconf_files() -> list[str]:
    """The files of the URLconf modules requests are resolved with: the root one and every
    one it includes."""
    try:
        from django.urls import get_resolver, get_urlconf

        stack = [get_resolver(get_urlconf())]
        found: list[str] = []
        while stack:
            resolver = stack.pop()
            filename = getattr(resolver.urlconf_module, "__file__", None)
            if isinstance(filename, str):
                found.append(filename)
            stack.extend(p for p in resolver.url_patterns if hasattr(p, "url_patterns"))
    except Exception:  # a URLconf that does not load: the test that requested failed on it
        return []
    return found
