"""The live-status event stream's rules, driven with a scripted state reader (no I/O)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType

import anyio
import pytest
from starlette.requests import Request
from starlette.types import Message

from pegasus.lectures.events import LectureEvents, LectureState

POLL = 0.01


def _state(status: str, progress: float = 0.0) -> LectureState:
    body = f'{{"id":"L1","status":"{status}","progress":{progress}}}'
    return LectureState(json=body, status=status, digest=f"{status}-{progress}")


class ScriptedReader:
    """Answers each read with the next item (a state, None, or an exception to raise); the
    last item repeats; counts reads and the threads they ran on."""

    def __init__(self, script: Iterable[LectureState | Exception | None]) -> None:
        self.script = list(script)
        self.reads = 0
        self.threads: set[str] = set()

    def __call__(self, owner_id: str, lecture_id: str) -> LectureState | None:
        assert (owner_id, lecture_id) == ("U1", "L1")
        self.threads.add(threading.current_thread().name)
        item = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        if isinstance(item, Exception):
            raise item
        return item


def _request(disconnected: threading.Event | None = None) -> Request:
    async def receive() -> Message:
        if disconnected is not None and disconnected.is_set():
            return {"type": "http.disconnect"}
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    return Request({"type": "http", "method": "GET", "headers": [], "path": "/"}, receive)


def _collect(
    events: LectureEvents,
    request: Request | None = None,
    *,
    max_items: int = 1000,
    timeout: float = 5.0,
) -> list[str]:
    async def main() -> list[str]:
        out: list[str] = []
        first = await events.read("U1", "L1")
        assert first is not None
        with anyio.fail_after(timeout):
            async for item in events.stream(request or _request(), "U1", "L1", first):
                out.append(item)
                if len(out) >= max_items:
                    break
        return out

    return anyio.run(main)


def test_retry_then_each_new_state_once_and_the_end_after_succeeded() -> None:
    queued, running, half = _state("queued"), _state("processing"), _state("processing", 0.5)
    done = _state("succeeded", 1.0)
    reader = ScriptedReader([queued, queued, running, running, running, half, half, done])
    items = _collect(LectureEvents(reader, poll_seconds=POLL))
    assert items == [
        "retry: 3000\n\n",
        f"event: lecture\nid: {queued.digest}\ndata: {queued.json}\n\n",
        f"event: lecture\nid: {running.digest}\ndata: {running.json}\n\n",
        f"event: lecture\nid: {half.digest}\ndata: {half.json}\n\n",
        f"event: lecture\nid: {done.digest}\ndata: {done.json}\n\n",
    ]
    assert reader.reads == 8  # and none after the finished state


def test_a_failed_lecture_also_ends_the_stream_at_once() -> None:
    reader = ScriptedReader([_state("failed")])
    items = _collect(LectureEvents(reader, poll_seconds=POLL))
    assert len(items) == 2
    assert reader.reads == 1


def test_a_quiet_stream_sends_keep_alive_comments() -> None:
    reader = ScriptedReader([_state("processing")])
    events = LectureEvents(reader, poll_seconds=POLL, keepalive_seconds=0.05)
    items = _collect(events, max_items=5)
    assert items[2:] == [": keep-alive\n\n"] * 3
    assert reader.reads > 5  # several identical reads between keep-alives, none resent


def test_a_lecture_deleted_mid_stream_ends_it() -> None:
    reader = ScriptedReader([_state("processing"), _state("processing"), None])
    items = _collect(LectureEvents(reader, poll_seconds=POLL))
    assert len(items) == 2
    assert reader.reads == 3


def test_failing_reads_keep_the_stream_until_the_database_answers_again() -> None:
    processing, done = _state("processing"), _state("succeeded")
    reader = ScriptedReader([processing, TimeoutError("pool busy"), RuntimeError("db"), done])
    items = _collect(LectureEvents(reader, poll_seconds=POLL))
    assert items[-1] == done.event()
    assert len(items) == 3


def test_stop_ends_every_open_stream_within_a_poll() -> None:
    reader = ScriptedReader([_state("processing")])
    events = LectureEvents(reader, poll_seconds=0.05)
    threading.Timer(0.3, events.stop).start()
    started = time.monotonic()
    items = _collect(events)
    assert time.monotonic() - started < 1.0
    assert len(items) == 2
    assert events.stopping


def test_a_client_that_left_ends_its_stream() -> None:
    gone = threading.Event()
    reader = ScriptedReader([_state("processing")])
    threading.Timer(0.2, gone.set).start()
    started = time.monotonic()
    items = _collect(LectureEvents(reader, poll_seconds=0.02), _request(gone))
    assert time.monotonic() - started < 1.0
    assert len(items) == 2


def test_reads_run_on_worker_threads_never_the_event_loop() -> None:
    reader = ScriptedReader([_state("processing"), _state("succeeded")])
    _collect(LectureEvents(reader, poll_seconds=POLL, read_threads=2))
    assert reader.threads
    assert threading.main_thread().name not in reader.threads


def test_exit_signals_stop_the_streams_and_reach_the_server_handler() -> None:
    received: list[int] = []

    def server_handler(number: int, _frame: FrameType | None) -> None:
        received.append(number)

    previous = signal.signal(signal.SIGTERM, server_handler)
    try:
        events = LectureEvents(ScriptedReader([None]))
        with events.stop_on_exit_signals():
            assert not events.stopping
            signal.raise_signal(signal.SIGTERM)
            assert events.stopping
            assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is server_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("status", ["succeeded", "failed"])
def test_finished_states(status: str) -> None:
    assert _state(status).finished
    assert not _state("processing").finished
    assert not _state("queued").finished
