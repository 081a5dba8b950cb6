"""API tokens (a user's own: list, create, revoke) and users (an admin's: list, disable,
enable). Revoking a token or disabling a user takes effect on the next request."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from pegasus.accounts import admin, self_service
from pegasus.accounts.schemas import TokenCreate, TokenCreated, TokenOut, UserOut
from pegasus.db.base import utcnow
from pegasus.dependencies import AdminDep, SessionDep, UserDep
from pegasus.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1")

NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    tags=["tokens"],
    summary="Your API tokens that are not revoked (expired ones too), newest first",
)
def list_tokens(user: UserDep, session: SessionDep) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in self_service.tokens_of(session, user)]


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    tags=["tokens"],
    summary="Create an API token; the secret is in this response only",
)
def create_token(
    body: TokenCreate, user: UserDep, session: SessionDep, response: Response
) -> TokenCreated:
    row, secret = self_service.create_own_token(
        session, user, name=body.name, now=utcnow(), expires_in_days=body.expires_in_days
    )
    response.headers.update(NO_STORE)
    shown = TokenOut.model_validate(row).model_dump()
    return TokenCreated.model_validate({**shown, "token": secret})


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["tokens"],
    summary="Revoke one of your API tokens: its next request gets 401 auth.token_revoked",
)
def revoke_token(token_id: str, user: UserDep, session: SessionDep) -> Response:
    self_service.revoke_own_token(session, user, token_id, now=utcnow())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/users", response_model=list[UserOut], tags=["users"], summary="Every user (admin only)"
)
def list_users(user: AdminDep, session: SessionDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in admin.list_users(session)]


@router.post(
    "/users/{user_id}/disable",
    response_model=UserOut,
    tags=["users"],
    summary="Disable a user (admin only): their sessions end and their tokens are refused "
    "at once (401 auth.account_disabled); 409 for your own account or the last admin",
)
def disable_user(user_id: str, user: AdminDep, session: SessionDep) -> UserOut:
    target = admin.find_user(session, user_id)
    admin.disable_user(session, target, now=utcnow(), by=user)
    return UserOut.model_validate(target)


@router.post(
    "/users/{user_id}/enable",
    response_model=UserOut,
    tags=["users"],
    summary="Enable a disabled user again (admin only); their unrevoked tokens work again; "
    "409 user.deleted for a deleted user",
)
def enable_user(user_id: str, user: AdminDep, session: SessionDep) -> UserOut:
    target = admin.find_user(session, user_id)
    admin.enable_user(session, target, by=user)
    return UserOut.model_validate(target)
