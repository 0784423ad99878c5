"""The `mockagent` command. The cycle collector is off while the command imports what it needs: those
imports allocate only what stays, so every collection they trigger walks it all and frees nothing
(5 ms of a 250 ms start). `serve` turns it back on, tuned, once it is listening (see collector.py);
the other commands are short-lived.

CHOSEN: pydantic's plugins are off in the command (``PYDANTIC_DISABLE_PLUGINS=__all__`` unless the caller
set it): looking them up reads the entry points of every installed distribution, which the first request
paid for (2 ms of it, more in a larger environment), and mockagent's models want none."""

from __future__ import annotations

import gc
import os


def main() -> None:
    gc.disable()
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from mockagent.cli import main as cli_main

    cli_main()
