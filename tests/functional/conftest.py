"""Fixtures of the functional tests: a served workbench."""

from tests.support.workbench import bench

__all__ = ["bench"]
