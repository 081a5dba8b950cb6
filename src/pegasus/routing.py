"""Routes that finish their unit of work in the endpoint's own thread.

FastAPI runs a sync endpoint on a worker thread, then validates and serializes its result
on ANOTHER worker thread, and only after that closes the dependencies with ``yield`` (the
request's session). A request whose session still held a pooled connection would then wait
for a free thread while keeping its connection; with more requests in flight than threads,
every thread waits for a connection and every connection for a thread until the pool times
out. ``UnitOfWorkRoute`` commits the request's session as the endpoint returns, on the
endpoint's thread, so a request never holds a connection while it waits for a thread. The
``yield`` dependency still closes the session and sends the jobs buffered with
``after_commit`` (``pegasus.db.session.unit_of_work``), and an error in the endpoint still
rolls everything back.

Every ``APIRouter`` of the app uses it: ``APIRouter(route_class=UnitOfWorkRoute)``; a test
walks the app's routes to keep it so.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy.orm import Session


def _committing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(endpoint)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = endpoint(*args, **kwargs)
        for value in kwargs.values():
            if isinstance(value, Session):
                value.commit()
        return result

    return run


class UnitOfWorkRoute(APIRoute):
    """An ``APIRoute`` whose sync endpoint commits the request's session before returning."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint) and not inspect.isasyncgenfunction(endpoint):
            endpoint = _committing(endpoint)
        super().__init__(path, endpoint, **kwargs)
