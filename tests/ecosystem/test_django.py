"""Django with pytest-django: a small real project (an app with a model, a data migration,
views on templates that extend and include others, a URLconf, settings). What Django loads
once per process and serves from caches (templates, the URLconf, the migrated test database)
or before recording starts (the settings) must still select the tests that rely on it."""

from __future__ import annotations

import pytest

from difftest_support import Project, outcomes, summary

pytest.importorskip("pytest_django")

FILES = {
    "pyproject.toml": """
        [tool.pytest.ini_options]
        DJANGO_SETTINGS_MODULE = "mysite.settings"
        pythonpath = ["."]
        testpaths = ["tests"]
    """,
    "mysite/__init__.py": "",
    "mysite/settings.py": """
        SECRET_KEY = "not secret"
        INSTALLED_APPS = ["django.contrib.contenttypes", "shop"]
        DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
        ROOT_URLCONF = "mysite.urls"
        TEMPLATES = [
            {"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}
        ]
        DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        USE_TZ = True
        PAGE_SIZE = 20
    """,
    "mysite/urls.py": """
        from django.urls import path

        from shop import views

        urlpatterns = [
            path("products/", views.product_list, name="products"),
            path("about/", views.about, name="about"),
        ]
    """,
    "shop/__init__.py": "",
    "shop/models.py": """
        from django.db import models


        class Product(models.Model):
            name = models.CharField(max_length=50)
            price = models.IntegerField()

            def label(self):
                return f"{self.name} ({self.price})"
    """,
    "shop/views.py": """
        from django.conf import settings
        from django.shortcuts import render

        from shop.models import Product


        def product_list(request):
            size = settings.PAGE_SIZE
            products = Product.objects.order_by("name")[:size]
            return render(request, "shop/list.html", {"products": products, "size": size})


        def about(request):
            return render(request, "shop/about.html")
    """,
    "shop/migrations/__init__.py": "",
    "shop/migrations/0001_initial.py": """
        from django.db import migrations, models


        class Migration(migrations.Migration):
            initial = True
            dependencies = []
            operations = [
                migrations.CreateModel(
                    name="Product",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("name", models.CharField(max_length=50)),
                        ("price", models.IntegerField()),
                    ],
                ),
            ]
    """,
    "shop/migrations/0002_seed.py": """
        from django.db import migrations


        def seed(apps, schema_editor):
            apps.get_model("shop", "Product").objects.create(name="apple", price=3)


        class Migration(migrations.Migration):
            dependencies = [("shop", "0001_initial")]
            operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
    """,
    "shop/templates/base.html": "<title>Shop</title>{% block content %}{% endblock %}\n",
    "shop/templates/shop/list.html": (
        '{% extends "base.html" %}{% block content %}{% for p in products %}'
        '{% include "shop/_row.html" %}{% endfor %}size={{ size }}{% endblock %}\n'
    ),
    "shop/templates/shop/_row.html": "<li>{{ p.label }}</li>\n",
    "shop/templates/shop/about.html": (
        '{% extends "base.html" %}{% block content %}about us{% endblock %}\n'
    ),
    "tests/test_views.py": """
        def test_list(client, db):
            content = client.get("/products/").content
            assert b"<li>apple (3)</li>" in content
            assert b"size=20" in content


        def test_list_again(client, db):
            response = client.get("/products/")
            assert response.status_code == 200
            assert b"apple" in response.content
    """,
    "tests/test_about.py": """
        def test_about(client):
            assert b"about us" in client.get("/about/").content
    """,
    "tests/test_models.py": """
        from shop.models import Product


        def test_label():
            assert Product(name="pear", price=2).label() == "pear (2)"


        def test_seeded(db):
            assert Product.objects.count() == 1
    """,
}

WORKERS = pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])


@pytest.fixture
def site(pytester: pytest.Pytester) -> Project:
    project = Project(pytester, pytester.path)
    project.load_installed_plugins()
    project.write_files(FILES)
    return project


def selected(project: Project, workers: tuple[str, ...]) -> dict[str, str]:
    """Test name → outcome of a --diff run (the -rA summary, which xdist prints too)."""
    result = project.diff(*workers, "-rA")
    return {nodeid.rpartition("::")[2]: outcome for nodeid, outcome in summary(result).items()}


@WORKERS
def test_an_included_template_selects_every_test_that_rendered_it(
    site: Project, workers: tuple[str, ...]
) -> None:
    site.settled(*workers)
    # Django's cached loader reads _row.html once: the second test renders it from memory.
    site.replace("shop/templates/shop/_row.html", "<li>", "<li class=row>")
    assert selected(site, workers) == {"test_list": "FAILED", "test_list_again": "PASSED"}
    site.replace("shop/templates/base.html", "<title>", "<title lang=en>")
    assert set(selected(site, workers)) == {"test_list", "test_list_again", "test_about"}


@WORKERS
def test_a_url_change_selects_every_test_that_resolved_urls(
    site: Project, workers: tuple[str, ...]
) -> None:
    site.settled(*workers)
    site.replace("mysite/urls.py", '"products/"', '"items/"')
    found = selected(site, workers)
    assert found["test_list"] == "FAILED"
    assert found["test_list_again"] == "FAILED"
    assert "test_label" not in found


@WORKERS
def test_a_settings_value_selects_the_tests_that_see_it(
    site: Project, workers: tuple[str, ...]
) -> None:
    site.settled(*workers)
    site.replace("mysite/settings.py", "PAGE_SIZE = 20", "PAGE_SIZE = 25")
    assert selected(site, workers)["test_list"] == "FAILED"


def test_a_data_migration_selects_the_database_tests(site: Project) -> None:
    site.settled()
    site.replace("shop/migrations/0002_seed.py", "price=3", "price=4")
    found = selected(site, ())
    assert found["test_list"] == "FAILED"
    assert found["test_seeded"] == "PASSED"
    assert "test_label" not in found


def test_a_model_method_selects_its_callers_only(site: Project) -> None:
    site.settled()
    site.replace("shop/models.py", 'f"{self.name} ({self.price})"', 'f"{self.name}: {self.price}"')
    found = selected(site, ())
    assert found["test_label"] == "FAILED"
    assert found["test_list"] == "FAILED"
    assert "test_about" not in found
    assert outcomes(site.run("-p", "no:difftest")) != {}


# Fixture files (loaddata): Django reads one while it loads it into the test database, once,
# and the tests after that read the rows from the database.
PRODUCTS = '[{"model": "shop.product", "pk": 2, "fields": {"name": "pear", "price": 2}}]\n'

PEAR_TESTS = {
    "tests/test_pear.py": """
        from shop.models import Product


        def test_pear(db):
            assert Product.objects.get(name="pear").price == 2
    """,
    "tests/test_pear_label.py": """
        from shop.models import Product


        def test_pear_label(db):
            assert Product.objects.get(name="pear").label() == "pear (2)"
    """,
}


@WORKERS
def test_a_fixture_file_loaded_once_for_the_session_selects_the_tests_that_use_its_rows(
    site: Project, workers: tuple[str, ...]
) -> None:
    # pytest-django's documented way to load data once per session: the first database test
    # runs the loaddata, every later one finds the rows in the database.
    site.write("shop/fixtures/products.json", PRODUCTS)
    site.write(
        "tests/conftest.py",
        """
        import pytest
        from django.core.management import call_command


        @pytest.fixture(scope="session")
        def django_db_setup(django_db_setup, django_db_blocker):
            with django_db_blocker.unblock():
                call_command("loaddata", "products.json")
        """,
    )
    site.write_files(PEAR_TESTS)
    site.replace("tests/test_models.py", "objects.count()", "objects.filter(name='apple').count()")
    site.settled(*workers)
    site.replace("shop/fixtures/products.json", '"price": 2', '"price": 5')
    found = selected(site, workers)
    assert found["test_pear"] == "FAILED"
    assert found["test_pear_label"] == "FAILED"
    assert "test_label" not in found


@WORKERS
def test_a_fixture_file_of_a_test_case_selects_every_test_of_the_class(
    site: Project, workers: tuple[str, ...]
) -> None:
    # django.test.TestCase loads `fixtures` once per class, in setUpClass: only the class's
    # first test runs while the file is read.
    site.write("shop/fixtures/products.json", PRODUCTS)
    site.write(
        "tests/test_catalogue.py",
        """
        from django.test import TestCase

        from shop.models import Product


        class CatalogueTests(TestCase):
            fixtures = ["products.json"]

            def test_pear(self):
                self.assertEqual(Product.objects.get(name="pear").price, 2)

            def test_pear_label(self):
                self.assertEqual(Product.objects.get(name="pear").label(), "pear (2)")
        """,
    )
    site.settled(*workers)
    site.replace("shop/fixtures/products.json", '"price": 2', '"price": 5')
    found = selected(site, workers)
    assert found["test_pear"] == "FAILED"
    assert found["test_pear_label"] == "FAILED"
    assert "test_label" not in found
