"""The project's tests use the project's own pytest plugin (registered through the pytest11 entry point)."""
