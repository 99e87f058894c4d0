"""Fixtures of the functional tests: a served workbench, and workbenches with receivers."""

from tests.support.enforcement_pages import benches
from tests.support.workbench import bench

__all__ = ["bench", "benches"]
