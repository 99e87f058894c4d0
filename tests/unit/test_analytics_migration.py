"""The migrations carry a frozen copy of the analytics views' SQL, equal to storage/analytics.py.

A migration must not read live definitions: a later change to a view would silently change
what an old revision creates. So each revision that creates or replaces views writes out the
SQL it runs (``ANALYTICS_VIEWS``), and the newest such revision must say exactly what
storage/analytics.py says: changing a view there without a new revision fails here.
"""

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

from abusedesk.storage import analytics
from abusedesk.storage.analytics import VIEW_NAMES, VIEWS, Dialect

VERSIONS = Path(analytics.__file__).resolve().parent / "migrations" / "versions"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _revisions_with_views() -> list[ModuleType]:
    modules = [_load(path) for path in sorted(VERSIONS.glob("[0-9]*.py"))]
    return [module for module in modules if hasattr(module, "ANALYTICS_VIEWS")]


def test_no_migration_imports_the_live_view_definitions() -> None:
    """No revision reads abusedesk.storage.analytics: what it creates is frozen in the file."""
    readers = []
    for path in sorted(VERSIONS.glob("[0-9]*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.startswith("abusedesk.storage.analytics") for name in names):
                readers.append(path.name)
    assert readers == []


def test_the_newest_frozen_views_equal_the_module_on_both_databases() -> None:
    """The newest revision's SQL is storage/analytics.py's, view by view, in order."""
    newest = _revisions_with_views()[-1].ANALYTICS_VIEWS
    for dialect in ("sqlite", "postgresql"):
        assert list(newest[dialect]) == list(VIEW_NAMES), dialect
        for view in VIEWS:
            assert newest[dialect][view.name] == view.select(Dialect(dialect)), (
                f"{view.name} on {dialect} differs from the newest migration: add a revision"
                " that replaces it"
            )


def test_0021_is_where_the_views_begin() -> None:
    """The first revision with views is 0021, and it names every view on both databases."""
    first = _revisions_with_views()[0]
    assert first.revision == "0021"
    assert set(first.ANALYTICS_VIEWS) == {"sqlite", "postgresql"}
    assert all(len(views) == len(VIEWS) for views in first.ANALYTICS_VIEWS.values())
