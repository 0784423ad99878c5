"""The project's tests use the project's own pytest plugin (registered through the pytest11 entry point), and
pytester to run a test file of their own through it where what is checked is a test's outcome."""

pytest_plugins = ["pytester"]
