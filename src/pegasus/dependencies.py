"""FastAPI dependencies: the runtime, the request's unit of work, the signed-in user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from pegasus.accounts.service import authenticate_token, record_token_use
from pegasus.db.models import User
from pegasus.db.session import unit_of_work
from pegasus.errors import AuthenticationError, PermissionDeniedError
from pegasus.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Session]:
    """The request's unit of work: commits when the endpoint returns, before the response."""
    with unit_of_work(runtime.session_factory) as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def current_user(request: Request, session: SessionDep, runtime: RuntimeDep) -> User:
    """The user whose bearer token came with the request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError()
    user = authenticate_token(session, token.strip())
    with unit_of_work(runtime.session_factory) as own:
        record_token_use(own, token.strip())
    return user


UserDep = Annotated[User, Depends(current_user)]


def admin_user(user: UserDep) -> User:
    """The signed-in user, who must be an admin."""
    if not user.is_admin:
        raise PermissionDeniedError("Only an admin can see this page.")
    return user


AdminDep = Annotated[User, Depends(admin_user)]
