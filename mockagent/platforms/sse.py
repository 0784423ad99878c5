"""Server-Sent Events: a response written frame by frame as a run produces them, with stream faults.

Stream faults — from the request (`X-Mockagent-Fault`, rules, chaos) or struck at a script step — are
applied here, so every platform's stream breaks the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from aiohttp import web

from mockagent.clock import Clock
from mockagent.encoding import dumps
from mockagent.faults import Fault
from mockagent.journal import ENTRY
from mockagent.runs import Run

FLUSH_BYTES = 64 * 1024  # a long burst of due frames still goes out in pieces


class Frame(NamedTuple):
    """An SSE frame with a name, an id, or the mark of the frame that ends the stream by the platform's
    rules. A frame with none of these — most frames — is just its data line, a `str` (see `Out`)."""

    data: str
    event: str | None = None
    id: str | None = None
    terminal: bool = False


#: What a renderer gives: a `Frame`, or a plain `data:` line as a `str` (JSON, or a sentinel such as
#: ``[DONE]``). Plain lines are most frames of every stream, so they cost no object of their own.
Out = Frame | str


def frame(value: Any, *, event: str | None = None, id: str | None = None, terminal: bool = False) -> Out:
    """`value` as JSON in one frame."""
    data = dumps(value)
    if event is None and id is None and not terminal:
        return data
    return _new_tuple(Frame, (data, event, id, terminal))  # tuple.__new__: NamedTuple's own is Python code


_new_tuple = tuple.__new__


class EventStream:
    """An SSE response. It is the `Sink` of the run it shows: the run flushes it before it waits, and a
    fault scripted at a step strikes it."""

    def __init__(
        self,
        request: web.Request,
        *,
        clock: Clock,
        fault: Fault | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.request = request
        self.response = web.StreamResponse(
            status=200,
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **(headers or {})},
        )
        self.frames = 0
        self._entry = request.get(ENTRY)  # the journal keeps each frame, with its time
        self._clock = clock
        self._buffer: list[bytes] = []  # frames sent but not yet written (see flush)
        self._buffered = 0
        self._ended = False
        self._drop_at: int | None = None
        self._malformed_at: int | None = None
        self._no_terminal = False
        self._stall: tuple[int, float] | None = None  # (after this many frames, clock seconds)
        if fault is not None:
            self._arm(fault)
            if fault.stall is not None:
                self._stall = (fault.stall_after, fault.stall)

    def _arm(self, fault: Fault) -> None:
        if fault.drop_after is not None:
            self._drop_at = self.frames + fault.drop_after
        if fault.malformed is not None:
            self._malformed_at = self.frames + fault.malformed
        self._no_terminal = self._no_terminal or fault.no_terminal

    async def open(self) -> EventStream:
        await self.response.prepare(self.request)
        if self._drop_at == 0:
            await self._drop()
        return self

    async def strike(self, fault: Fault) -> None:
        """A fault scripted at a step: it counts from the frames written so far."""
        self._arm(fault)
        if self._drop_at == self.frames:
            await self._drop()

    async def send(self, frame: Out) -> None:
        """Send one frame (under the no-terminal fault, the terminal frame and everything after it is never
        sent). Frames are buffered until `flush` — which the run calls before it waits for its next moment,
        and `close` calls at the end — so frames due at the same moment cost one write, not one each."""
        if self._ended:
            return
        event: str | None
        event_id: str | None
        if isinstance(frame, str):
            data, event, event_id, terminal = frame, None, None, False
        else:
            data, event, event_id, terminal = frame
        if self._no_terminal and terminal:
            self._ended = True
            return
        if self._stall is not None and self.frames == self._stall[0]:
            await self.flush()
            await self._clock.sleep_until(self._clock.now() + self._stall[1])
        if self._malformed_at == self.frames + 1:
            data = data[: max(1, len(data) // 2)]  # cut mid-JSON: a parser must reject it
        if event_id is None and event is None:
            # backslashreplace: a lone surrogate is sent as its JSON escape (see encoding.json_response)
            raw = f"data: {data}\n\n".encode("utf-8", "backslashreplace")
        else:
            frame_id = f"id: {event_id}\n" if event_id is not None else ""
            name = f"event: {event}\n" if event is not None else ""
            raw = f"{frame_id}{name}data: {data}\n\n".encode("utf-8", "backslashreplace")
        self._buffer.append(raw)
        self._buffered += len(raw)
        self.frames += 1
        if self._entry is not None:
            self._entry.frame(self._clock.now(), raw)
        if self._drop_at is not None and self.frames >= self._drop_at:
            await self._drop()
        elif self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            await self.response.write(self._take())

    def _take(self) -> bytes:
        """The buffered frames, as one piece; the buffer is empty after."""
        data = b"".join(self._buffer)
        self._buffer.clear()
        self._buffered = 0
        return data

    async def _drop(self) -> None:
        """Cut the connection mid-stream, as a failing proxy would; the caller treats it as a hang-up."""
        await self.flush()  # the frames before the cut reach the client
        transport = self.request.transport
        if transport is not None:
            transport.close()
        self._ended = True
        raise ConnectionResetError("stream dropped by an injected fault")

    async def close(self) -> web.StreamResponse:
        transport = self.request.transport
        if transport is not None and not transport.is_closing():
            # The last frames and the end of the response leave in one write. A client that leaves as
            # the stream ends is no error of ours (and the run is already over or paused).
            with contextlib.suppress(ConnectionResetError):
                await self.response.write_eof(self._take())
        return self.response


class hang_up_cancels:
    """Around a view's waiting and writing: a client that hangs up ends its run at once (`run=None`: a
    view that only watches, whose hang-up leaves the run alone).

    A hang-up shows either as the handler being cancelled (aiohttp's handler cancellation) or as a write
    that finds the connection gone (a client reset, or an injected drop); both leave the run cancelled.
    After a reset the block is left quietly, and `EventStream.close()` knows not to write to the dead
    socket. The frames still buffered when the block ends go out with the end of the response. (A class,
    not a generator: it wraps every blocking answer and stream.)
    """

    __slots__ = ("run",)

    def __init__(self, run: Run | None) -> None:
        self.run = run

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> bool:
        if kind is None or not issubclass(kind, asyncio.CancelledError | ConnectionResetError):
            return False
        if self.run is not None:
            self.run.cancel("client disconnected")
        return issubclass(kind, ConnectionResetError)  # a cancellation goes on up
