"""Scenario files: loading (with file:line:col errors), matching and templating."""

from mockagent.scenarios.loader import load_file, load_paths, load_text
from mockagent.scenarios.model import Agent, Credential, Llm, Reply, ScenarioSet

__all__ = ["Agent", "Credential", "Llm", "Reply", "ScenarioSet", "load_file", "load_paths", "load_text"]
