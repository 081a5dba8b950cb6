"""A classroom of concurrent clients against a running Pegasus.

Used by the load test (``tests/integration/test_classroom_load.py``, which asserts on the
outcome) and by ``make bench`` (which reports the latencies). Every client starts at once:
status reads of a lecture being processed, course and lecture lists, transcript reads, and
review edits of a finished lecture's segments — each editor owns one segment and edits it
twice, the second time with the ``If-Match`` of the first; pairs of rivals then race on one
segment with the same ``If-Match``, so exactly one of each pair must win.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class Classroom:
    """What the clients work on: a course, a lecture in processing and a finished one."""

    base_url: str
    token: str
    course_id: str
    processing_lecture_id: str
    finished_lecture_id: str
    #: Segment positions of the finished lecture, one editor each.
    segments: tuple[int, ...]
    #: Segment positions that two rivals edit at once with the same If-Match.
    contested: tuple[int, ...] = ()


@dataclass
class LoadReport:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    #: (method, route) -> seconds of each request.
    latencies: dict[str, list[float]] = field(default_factory=dict)
    #: segment position -> the word of the last edit the server accepted for it.
    accepted: dict[int, str] = field(default_factory=dict)
    #: segment position -> every word sent for it (each edit's text carries one such word).
    sent: dict[int, list[str]] = field(default_factory=dict)
    #: segment position -> outcomes of the two rival edits (status codes, sorted).
    rivals: dict[int, list[int]] = field(default_factory=dict)
    #: the error bodies of every 5xx, for the failure message.
    server_errors: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class _Client:
    def __init__(self, http: httpx.AsyncClient, report: LoadReport) -> None:
        self.http = http
        self.report = report

    async def call(
        self, name: str, method: str, url: str, **kwargs: object
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await self.http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            self.report.statuses[599] += 1
            self.report.server_errors.append(f"{method} {url}: {type(exc).__name__}")
            return None
        self.report.latencies.setdefault(name, []).append(time.perf_counter() - started)
        self.report.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.report.server_errors.append(f"{method} {url}: {response.text[:300]}")
        return response


async def _reader(client: _Client, room: Classroom, kind: int) -> None:
    lectures = "/api/v1/lectures"
    for _ in range(3):
        if kind == 0:
            await client.call("lecture status", "GET", f"{lectures}/{room.processing_lecture_id}")
        elif kind == 1:
            await client.call("course list", "GET", "/api/v1/courses")
        elif kind == 2:
            await client.call(
                "transcript", "GET", f"{lectures}/{room.finished_lecture_id}/transcript"
            )
        else:
            await client.call("lecture list", "GET", f"/api/v1/courses/{room.course_id}/lectures")


def edit_word(position: int, label: str) -> str:
    """The one word an edit's text is known by, for the stored transcript and the index."""
    return f"quokka{position}{label}"


def edit_text(word: str) -> str:
    return f"Corrected in class {word}"


async def _edit(
    client: _Client, room: Classroom, position: int, label: str, if_match: str | None = None
) -> httpx.Response | None:
    word = edit_word(position, label)
    client.report.sent.setdefault(position, []).append(word)
    response = await client.call(
        "segment edit",
        "PATCH",
        f"/api/v1/lectures/{room.finished_lecture_id}/transcript/segments/{position}",
        json={"text": edit_text(word)},
        headers={"If-Match": if_match} if if_match else {},
    )
    if response is not None and response.status_code == 200:
        client.report.accepted[position] = word
    return response


async def _editor(client: _Client, room: Classroom, position: int) -> None:
    """Edit one segment twice: blind, then with the If-Match of the first answer."""
    first = await _edit(client, room, position, "first")
    if first is not None and first.status_code == 200:
        await _edit(client, room, position, "second", if_match=first.headers["etag"])


async def _rivals(client: _Client, room: Classroom, position: int) -> None:
    """Two edits of one segment with the same If-Match, at the same moment."""
    base = await _edit(client, room, position, "base")
    if base is None or base.status_code != 200:
        return
    tag = base.headers["etag"]
    answers = await asyncio.gather(
        *(_edit(client, room, position, label, if_match=tag) for label in ("left", "right"))
    )
    client.report.rivals[position] = sorted(a.status_code if a else 599 for a in answers)


async def run_classroom(
    room: Classroom, *, clients: int = 200, timeout: float = 60.0
) -> LoadReport:
    """Start ``clients`` clients at once (editors and rivals first, readers for the rest) and
    wait for all of them; each keeps its own connection, as a lecture hall's phones do."""
    report = LoadReport()
    limits = httpx.Limits(
        max_connections=clients + 2 * len(room.contested), max_keepalive_connections=0
    )
    async with httpx.AsyncClient(
        base_url=room.base_url,
        headers={"Authorization": f"Bearer {room.token}"},
        limits=limits,
        timeout=timeout,
    ) as http:
        client = _Client(http, report)
        tasks = [_editor(client, room, position) for position in room.segments]
        tasks += [_rivals(client, room, position) for position in room.contested]
        readers = max(0, clients - len(tasks))
        tasks += [_reader(client, room, index % 4) for index in range(readers)]
        await asyncio.gather(*tasks)
    return report


async def burst(base_url: str, token: str, path: str, *, clients: int = 200) -> Counter[int]:
    """``clients`` identical GETs of ``path`` at the same moment; their status codes."""
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        limits=httpx.Limits(max_connections=clients, max_keepalive_connections=0),
        timeout=60.0,
    ) as http:
        answers = await asyncio.gather(
            *(http.get(path) for _ in range(clients)), return_exceptions=True
        )
    return Counter(a.status_code if isinstance(a, httpx.Response) else 599 for a in answers)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
