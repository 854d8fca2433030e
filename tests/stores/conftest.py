"""The store fixtures (tests/stores/fixtures.py) for this directory."""

from tests.stores.fixtures import redis_url, store

__all__ = ["redis_url", "store"]
