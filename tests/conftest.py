"""The project's tests use the project's own pytest plugin (registered through the pytest11 entry point), and
pytester to run a test file of their own through it where what is checked is a test's outcome."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from redis_server import RedisServer
from serving import SAFETY

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the test session (each test uses a server name of its own in it)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def name() -> str:
    """A server name of the test's own (`--name`): its keys share the session's Redis with no other test's."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # A stream that never ends fails the test within the bound, not aiohttp's five minutes.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SAFETY)) as session:
        yield session
