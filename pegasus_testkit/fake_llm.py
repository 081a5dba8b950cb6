"""A small OpenAI-compatible chat-completions server for the LLM client's tests.

It is a real HTTP server on a free 127.0.0.1 port (``http.server`` in a thread). Each request
takes the next scripted ``Reply`` (a valid answer once the script is empty) and is recorded,
so tests can check prompt sizes, call counts and headers. A valid answer is built from the
transcript lines in the prompt (``[start-end] text``), so the times it cites are real; it
also quotes made-up text and cites one card far outside the lecture, which the client must
not trust.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import quote

from pegasus_testkit.ports import free_port

#: Text the fake puts in a "quote" field of every item; it must never reach a kit.
INVENTED_QUOTE = "words the lecturer never said"
#: The front of a card the fake cites far beyond the lecture's end; it must be dropped.
PHANTOM_FRONT = "A card about a moment that does not exist"
_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)\] (.+)$")


@dataclass(frozen=True)
class Reply:
    """How the fake answers one request."""

    kind: Literal["valid", "malformed", "schema_invalid", "status", "slow"] = "valid"
    status: int = 200
    retry_after: str | None = None
    delay_seconds: float = 0.0
    echo_key: bool = False

    @classmethod
    def malformed(cls) -> Reply:
        return cls(kind="malformed")

    @classmethod
    def schema_invalid(cls) -> Reply:
        return cls(kind="schema_invalid")

    @classmethod
    def rate_limited(cls, retry_after: str | None = None) -> Reply:
        return cls(kind="status", status=429, retry_after=retry_after)

    @classmethod
    def error(cls, status: int = 500) -> Reply:
        return cls(kind="status", status=status)

    @classmethod
    def key_echoed(cls, status: int = 401) -> Reply:
        """An error whose JSON body quotes the Authorization header back: raw (JSON-escaped),
        percent-encoded and base64, as some providers and proxies do."""
        return cls(kind="status", status=status, echo_key=True)

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        return cls(kind="slow", delay_seconds=seconds)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    size: int

    @property
    def messages(self) -> list[dict[str, str]]:
        messages: list[dict[str, str]] = self.body["messages"]
        return messages

    @property
    def prompt_chars(self) -> int:
        return sum(len(m["content"]) for m in self.messages)

    @property
    def lines(self) -> list[tuple[float, float, str]]:
        """The transcript lines of the prompt, as (start, end, text)."""
        found = []
        for message in self.messages:
            if message["role"] != "user":
                continue
            for line in message["content"].splitlines():
                match = _LINE.match(line)
                if match:
                    found.append((float(match[1]), float(match[2]), match[3]))
        return found


def _term(text: str) -> str:
    return re.sub(r"\W+$", "", text.split()[-1])


def valid_answer(lines: list[tuple[float, float, str]]) -> dict[str, Any]:
    """A full answer citing the given transcript lines: more items than any preset keeps."""
    terms = [_term(text) for _, _, text in lines]
    middle = len(lines) // 2
    halves = [lines[:middle], lines[middle:]] if middle else [lines]
    fillers = ["none of these", "all of these", "not in this lecture"]
    quiz = []
    for i, (start, end, _) in enumerate(lines[:8]):
        others = list(dict.fromkeys(t for t in terms if t.lower() != terms[i].lower()))
        options = [terms[i], *(others + fillers)[:3]]
        quiz.append(
            {
                "question": f"Which term does the lecture explain at {start:.0f} seconds?",
                "options": options,
                "answer_index": 0,
                "explanation": f"The lecturer explains {terms[i]} there.",
                "start": start,
                "end": end,
                "quote": INVENTED_QUOTE,
            }
        )
    cards: list[dict[str, Any]] = []
    for (start, end, text), term in zip(lines, terms, strict=True):
        cards.append(
            {"kind": "definition", "front": term, "back": text, "start": start, "end": end}
        )
        cards.append(
            {
                "kind": "cloze",
                "front": text.replace(term, "{{c1::" + term + "}}", 1),
                "back": term,
                "start": start,
                "end": end,
                "quote": INVENTED_QUOTE,
            }
        )
    cards.append(
        {"kind": "definition", "front": PHANTOM_FRONT, "back": "x", "start": 9e6, "end": 9e6 + 5}
    )
    return {
        "summary_points": [
            {"text": f"The lecture turns to {_term(t)}.", "start": s, "end": e}
            for s, e, t in lines[:: max(1, len(lines) // 3)][:3]
        ],
        "sections": [
            {
                "title": f"About {_term(half[0][2])}",
                "start": half[0][0],
                "bullets": [
                    {"text": f"Note on {_term(t)}.", "start": s, "end": e, "quote": INVENTED_QUOTE}
                    for s, e, t in half[:3]
                ],
            }
            for half in halves
        ],
        "key_terms": [
            {"term": term, "definition": text, "start": s, "end": e, "quote": INVENTED_QUOTE}
            for (s, e, text), term in zip(lines, terms, strict=True)
        ],
        "flashcards": cards,
        "quiz": quiz,
    }


SCHEMA_INVALID_ANSWER: dict[str, Any] = {
    "key_terms": "not a list",
    "quiz": [
        {
            "question": "Which is it?",
            "options": ["heat", "Heat", "work", "power"],
            "answer_index": 0,
            "explanation": "Because.",
            "start": 0,
            "end": 1,
        }
    ],
}


class FakeLlm:
    """The running server: its URL, its script and what it received."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[RecordedRequest] = []
        self.stopping = threading.Event()
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies``, in order; valid answers after them."""
        with self._lock:
            self._script.extend(replies)

    def next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            return self._script.popleft() if self._script else Reply()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``FakeLlm.requests`` instead."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.path.endswith("/chat/completions"):
            self._send(404, {"error": {"message": "not found"}})
            return
        body = json.loads(raw)
        request = RecordedRequest(
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            size=len(raw),
        )
        reply = self.server.fake.next_reply(request)
        if reply.kind == "status":
            headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
            message = "scripted failure"
            if reply.echo_key:
                sent = request.headers.get("authorization", "").removeprefix("Bearer ")
                message = (
                    f"Incorrect API key provided: {sent}. "
                    f"(url-encoded: {quote(sent, safe='')}; "
                    f"basic: {base64.b64encode(f'user:{sent}'.encode()).decode()})"
                )
            self._send(reply.status, {"error": {"message": message}}, headers)
            return
        if reply.kind == "slow":
            self.server.fake.stopping.wait(reply.delay_seconds)
        content = {
            "malformed": '{"summary_points": [ this is not json',
            "schema_invalid": json.dumps(SCHEMA_INVALID_ANSWER),
        }.get(reply.kind) or json.dumps(valid_answer(request.lines))
        self._send(
            200,
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                    }
                ],
            },
        )

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        # The client may have given up (a timeout test); its closed socket is expected.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    def __init__(self, port: int, fake: FakeLlm) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", port), _Handler)


def _bind(fake: FakeLlm) -> _Server:
    for _attempt in range(2):  # the free port may be taken before we bind it
        with contextlib.suppress(OSError):
            return _Server(free_port(), fake)
    return _Server(free_port(), fake)


@contextlib.contextmanager
def running_fake_llm() -> Iterator[FakeLlm]:
    """Serve a ``FakeLlm`` at ``<url>/chat/completions``; stop it and its handlers after."""
    fake = FakeLlm()
    server = _bind(fake)
    port = server.server_address[1]
    fake.url = f"http://127.0.0.1:{port}/v1"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        fake.stopping.set()  # releases slow handlers at once
        server.shutdown()
        server.server_close()  # joins the handler threads
        thread.join(timeout=10)
