"""The JSON API for services under ``/api/v1``, authenticated by bearer tokens."""
