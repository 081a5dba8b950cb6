"""HEAD wherever GET works, OPTIONS everywhere, and an ``Allow`` header on every 405.

FastAPI routes answer only the methods they declare, so ``curl -I`` got a 405, and a 405
named only one route's methods. ``MethodsMiddleware`` looks at every route whose path
matches the request:

- a method some matching route declares passes through untouched (so a route that defines
  HEAD or OPTIONS itself, like the tus upload endpoints, keeps its own handler);
- HEAD where GET exists runs the GET handler and sends its status and headers without a
  body (the handler is told the client left as soon as the headers are out, so streams stop);
- OPTIONS answers 204 with ``Allow``;
- any other method answers 405 with ``Allow`` and Pegasus's error body.

Paths no route matches, and mounts (static files), pass through unchanged.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Mount, Router, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pegasus.errors import error_body


class MethodsMiddleware:
    """Pure ASGI middleware; ``router`` is the app's router, read on every request so
    routes added after start-up count too."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_methods(self.router.routes, scope)
        method = scope["method"]
        if declared is None or method in declared:
            await self.app(scope, receive, send)
            return
        methods = set(declared)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        allow = _allow_header(methods)
        if method == "HEAD" and "GET" in methods:
            await self._head_as_get(scope, receive, send)
        elif method == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(b"allow", allow.encode())],
                }
            )
            await send({"type": "http.response.body", "body": b""})
        else:
            await _method_not_allowed(scope, send, method, allow)

    async def _head_as_get(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def head_receive() -> Message:
            if finished:
                return {"type": "http.disconnect"}
            return await receive()

        async def head_send(message: Message) -> None:
            nonlocal finished
            if finished:
                return
            if message["type"] == "http.response.start":
                await send(message)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                finished = True

        await self.app({**scope, "method": "GET"}, head_receive, head_send)


def declared_methods(routes: Sequence[BaseRoute], scope: Scope) -> set[str] | None:
    """Methods the routes matching the request's path declare; ``None`` when no route
    matches the path or a mount does."""
    root_path = scope.get("root_path", "")
    path: str = scope["path"]
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :] or "/"
    found: set[str] = set()
    matched = False
    for route in iter_route_contexts(routes):
        route_path = route.path
        if not isinstance(route_path, str):
            continue
        if isinstance(route.original_route, Mount):
            if not matched and _path_regex(route_path.rstrip("/") + "/{path:path}").match(path):
                return None
            continue
        if not _path_regex(route_path).match(path):
            continue
        route_methods = route.methods
        if route_methods is None:
            return None  # a route that takes every method
        matched = True
        found.update(route_methods)
    return found if matched else None


@functools.lru_cache(maxsize=1024)
def _path_regex(path: str) -> re.Pattern[str]:
    regex, _, _ = compile_path(path)
    return regex


def _allow_header(methods: set[str]) -> str:
    return ", ".join(sorted(methods))


async def _method_not_allowed(scope: Scope, send: Send, method: str, allow: str) -> None:
    message = f"{method} is not allowed here. Allowed: {allow}."
    request_id = scope.get("state", {}).get("request_id")
    payload = json.dumps(error_body("method_not_allowed", message, request_id)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 405,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"allow", allow.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
