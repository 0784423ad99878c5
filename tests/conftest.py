"""The project's tests use the project's own pytest plugin (registered through the pytest11 entry point), and
pytester to run a test file of their own through it where what is checked is a test's outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_server import RedisServer

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the test session (each test uses a server name of its own in it)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
