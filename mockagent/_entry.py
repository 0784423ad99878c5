"""The `mockagent` command. The cycle collector is off while the command imports what it needs: those
imports allocate only what stays, so every collection they trigger walks it all and frees nothing
(5 ms of a 250 ms start). `serve` turns it back on, tuned, once it is listening (see collector.py);
the other commands are short-lived."""

from __future__ import annotations

import gc


def main() -> None:
    gc.disable()
    from mockagent.cli import main as cli_main

    cli_main()
