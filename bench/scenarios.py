"""The scenario files the benchmark serves, generated into bench/.work/.

- one/    the `echo` and `routed` agents alone (JSON invoke with 1 scenario)
- many/   1,000 agents bench-agent-0000 … (replies chosen by the message, body paths and headers) plus `echo` and
          `routed` (the same invoke with 1,000 scenarios)
- suite/  echo, and the streaming and timing agents below
- soak/   the soak's own agents (served beside the built-in demo agents): a long paced stream, the same behind
          an approval, and a flood of 8 MiB that no socket buffer holds

Streamed text is cut into explicit chunks tok00 … tok19, so a client can tell which scripted chunk a frame
carries (and so when it was scheduled) whatever frames the platform adds around them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FRAMES = 20
PACED_FIRST = 0.05  # chunk i is scheduled at PACED_FIRST + i * PACED_INTERVAL: the last at 1.00 s
PACED_INTERVAL = 0.05
DELAY = 0.1
MANY = 1000
SCENARIOS_PER_FILE = 100


@dataclass(frozen=True)
class StreamAgent:
    """An agent whose reply is chunks tok00 …, and when (seconds after the run starts) each is due."""

    id: str
    schedule: tuple[float, ...]  # one entry per token

    @property
    def scripted(self) -> float:
        return self.schedule[-1]


ECHO = "echo"
UNPACED = StreamAgent("stream20", tuple(0.0 for _ in range(FRAMES)))
PACED = StreamAgent("paced20", tuple(round(PACED_FIRST + i * PACED_INTERVAL, 6) for i in range(FRAMES)))
DELAYED = StreamAgent("delay100", (DELAY,))


def _chunks(count: int) -> str:
    return json.dumps([f"tok{i:02d} " for i in range(count)])


ECHO_YAML = f"""\
  - id: {ECHO}
    description: "Replies with Echo and the message, at once."
    script:
      - say: "Echo: {{{{ message }}}}"
"""

# The JSON invoke's agent: its reply is chosen by body paths and headers, past two replies that do not match
# (the request carries metadata.tier gold, metadata.channel web and X-Bench: yes).
ROUTED = "routed"
ROUTED_YAML = f"""\
  - id: {ROUTED}
    description: "Replies by body paths and headers: Echo and the message for a gold tier with X-Bench."
    replies:
      - when: {{body: {{metadata.tier: {{one_of: [bronze, silver]}}}}, headers: {{X-Region: eu}}}}
        script: [{{say: "Tiered."}}]
      - when: {{any: [{{headers: {{X-Bench: "no"}}}}, {{body: {{metadata.channel: {{regex: "^sms"}}}}}}]}}
        script: [{{say: "Elsewhere."}}]
      - when: {{body: {{metadata.tier: gold, metadata.channel: {{exists: true}}}}, headers: {{X-Bench: "yes"}}}}
        script:
          - say: "Echo: {{{{ message }}}}"
    default:
      - say: "Unrouted."
"""

SUITE_YAML = f"""\
agents:
{ECHO_YAML}{ROUTED_YAML}
  - id: {UNPACED.id}
    description: {FRAMES} chunks, unpaced.
    script:
      - say: {{chunks: {_chunks(FRAMES)}}}

  - id: {PACED.id}
    description: {FRAMES} chunks over 1 s (first at {PACED_FIRST} s, then every {PACED_INTERVAL} s).
    pace: {{first_frame: {PACED_FIRST}, interval: {PACED_INTERVAL}}}
    script:
      - say: {{chunks: {_chunks(FRAMES)}}}

  - id: {DELAYED.id}
    description: Waits {DELAY} s, then answers.
    script:
      - delay: {DELAY}
        say: {{chunks: {_chunks(1)}}}
"""


SOAK_STREAM = 4.0  # seconds of a soak-long stream: long enough to be dropped in the middle
SOAK_FRAMES = 40
FLOOD_BLOCK = 64 * 1024
FLOOD_BLOCKS = 128  # 8 MiB: more than the kernel's socket buffers on both sides (4 MiB each at most, by default)


def _soak_yaml() -> str:
    interval = SOAK_STREAM / SOAK_FRAMES
    block = ("0123456789abcdef" * (FLOOD_BLOCK // 16))[:FLOOD_BLOCK]
    # The flood's chunks are one 64 KiB string, repeated by YAML aliases: the file stays small, and so do the
    # runs the server keeps (each chunk of each run is that one string), however many floods it serves.
    repeats = ", ".join(["*block"] * (FLOOD_BLOCKS - 1))
    return f"""\
agents:
  - id: soak-long
    aster_id: 101
    description: {SOAK_FRAMES} chunks over {SOAK_STREAM:g} s.
    pace: {{first_frame: {interval}, interval: {interval}}}
    script:
      - say: {{chunks: {_chunks(SOAK_FRAMES)}}}

  - id: soak-gate
    aster_id: 102
    description: Asks to approve a call, then streams {SOAK_FRAMES} chunks over {SOAK_STREAM:g} s.
    pace: {{first_frame: {interval}, interval: {interval}}}
    script:
      - tool_call: {{name: deploy, args: {{env: soak}}, requires_approval: true}}
      - tool_result: {{output: {{deployed: true}}}}
      - say: {{chunks: {_chunks(SOAK_FRAMES)}}}

  - id: soak-flood
    aster_id: 103
    description: {FLOOD_BLOCKS * FLOOD_BLOCK // 1024 // 1024} MiB of text at once, in 64 KiB chunks.
    script:
      - say: {{chunks: [&block "{block}", {repeats}]}}
"""


def _many_agent(n: int) -> str:
    agent_id = f"bench-agent-{n:04d}"
    return f"""\
  - id: {agent_id}
    description: Benchmark filler {n}.
    pace: {{first_frame: 0.01, interval: 0.01}}
    replies:
      - when: {{contains: "order {n}", headers: {{X-Tenant: "t{n}"}}}}
        script:
          - tool_call: {{name: lookup_order, args: {{id: {n}}}}}
          - tool_result: {{output: {{status: shipped}}}}
          - say: "Order {n} has shipped."
      - when: {{body: {{metadata.ticket: "{n}"}}, regex: "^refund"}}
        script:
          - say: "Refund {n} is on its way."
    script:
      - say: "Agent {n} heard: {{{{ message }}}}"
"""


def write_all(work: Path) -> dict[str, Path]:
    """Write the scenario folders; return them by name."""
    folders = {name: work / "scenarios" / name for name in ("one", "many", "suite", "soak")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.yaml"):
            old.unlink()
    (folders["one"] / "echo.yaml").write_text("agents:\n" + ECHO_YAML + ROUTED_YAML, encoding="utf-8")
    (folders["suite"] / "suite.yaml").write_text(SUITE_YAML, encoding="utf-8")
    (folders["soak"] / "soak.yaml").write_text(_soak_yaml(), encoding="utf-8")
    (folders["many"] / "echo.yaml").write_text("agents:\n" + ECHO_YAML + ROUTED_YAML, encoding="utf-8")
    for first in range(0, MANY, SCENARIOS_PER_FILE):
        body = "".join(_many_agent(n) for n in range(first, first + SCENARIOS_PER_FILE))
        (folders["many"] / f"agents-{first:04d}.yaml").write_text("agents:\n" + body, encoding="utf-8")
    return folders
