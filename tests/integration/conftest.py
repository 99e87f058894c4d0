"""Fixtures of the integration tests: the application on the procrastinate job engine."""

from tests.support.jobs import engine_container

__all__ = ["engine_container"]
