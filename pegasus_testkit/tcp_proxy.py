"""A TCP proxy a test controls: put it between Pegasus and a service, then cut and restore it.

``tcp_proxy(host, port)`` listens on a free loopback port and forwards every connection to
``host:port``. ``cut()`` resets every forwarded connection at once and then answers new ones
as the chosen fault does: ``"reset"`` (the default) accepts and resets them at once, like a
service that is down; ``"blackhole"`` accepts them and never answers, like a network that
drops packets (only the client's own timeouts end those). ``restore()`` forwards again. The
service itself keeps running and keeps its data: only the path to it is cut.

One asyncio loop on a daemon thread does all the socket work; the methods are thread-safe
and block until the loop has done what they ask.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, Literal, TypeVar

Fault = Literal["reset", "blackhole"]
_T = TypeVar("_T")
_CHUNK = 64 * 1024
_CALL_SECONDS = 10.0


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close at once with a TCP RST (SO_LINGER 0), dropping what was not sent."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port`` until cut."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        #: What happens to new connections: None forwards them, else the fault in force.
        self.fault: Fault | None = None
        #: Connections forwarded, reset by the fault, and held unanswered, since start.
        self.forwarded = 0
        self.refused = 0
        self.held = 0
        #: Forwarded connections a ``cut`` reset while they were open.
        self.cut_open = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="tcp-proxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()  # both ends of forwarded connections
        self._holding: set[asyncio.StreamWriter] = set()
        self._every: set[asyncio.StreamWriter] = set()  # every end ever made, for stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:port``, for URLs."""
        return f"127.0.0.1:{self.port}"

    # --- control (any thread) ----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def cut(self, fault: Fault = "reset") -> None:
        """Reset every connection forwarded now; answer new ones with ``fault``."""
        if fault not in ("reset", "blackhole"):
            raise ValueError(f"unknown fault {fault!r}")
        self._call(self._cut(fault))

    def restore(self) -> None:
        """Forward new connections again (held black-holed ones are reset)."""
        self._call(self._restore())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_CALL_SECONDS)
        if not self._thread.is_alive():
            self._loop.close()

    def _call(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(_CALL_SECONDS)

    # --- the loop's side ---------------------------------------------------------------

    async def _start(self) -> None:
        # Port 0: the kernel picks a free port as it binds, so no other process can take it.
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _cut(self, fault: Fault) -> None:
        self.fault = fault
        for writer in list(self._open):
            self.cut_open += 1
            _reset(writer)
        self._open.clear()

    async def _restore(self) -> None:
        self.fault = None
        for writer in list(self._holding):
            _reset(writer)
        self._holding.clear()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut("reset")
        await self._restore()
        for writer in self._every:
            if not writer.transport.is_closing():
                writer.transport.abort()
        # Every connection was reset: let their tasks and transports see the end before
        # the loop stops (a transport closes its socket one loop turn after abort()).
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if others:
            await asyncio.wait(others, timeout=_CALL_SECONDS / 2)
        await asyncio.sleep(0.05)
        self._every.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._every.add(writer)
        if self.fault == "reset":
            self.refused += 1
            _reset(writer)
            self._every.discard(writer)
            return
        if self.fault == "blackhole":
            self.held += 1
            self._holding.add(writer)
            await self._drain_until_closed(reader)
            self._holding.discard(writer)
            self._every.discard(writer)
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self.refused += 1
            _reset(writer)
            self._every.discard(writer)
            return
        self.forwarded += 1
        self._every.add(up_writer)
        self._open.update((writer, up_writer))
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                self._open.discard(end)
                self._every.discard(end)
                end.transport.abort()

    @staticmethod
    async def _drain_until_closed(reader: asyncio.StreamReader) -> None:
        """Read and drop what a black-holed client sends until it gives up."""
        with contextlib.suppress(OSError):
            while await reader.read(_CHUNK):
                pass

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof() and not writer.is_closing():
                writer.write_eof()
        except OSError:
            # One side went away (or the cut reset it): end the other side too.
            writer.transport.abort()


@contextlib.contextmanager
def tcp_proxy(target_host: str, target_port: int) -> Iterator[TcpProxy]:
    """A running ``TcpProxy`` to ``target_host:target_port``, stopped afterwards."""
    proxy = TcpProxy(target_host, target_port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
