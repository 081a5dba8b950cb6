"""HTTP shapes of API tokens and users."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pegasus.accounts.service import MAX_TOKEN_DAYS
from pegasus.schemas_types import VisibleStr, require_number

#: Bounds before the validator, so the schema carries them (see ``schemas_types.Count``).
TokenDays = Annotated[int, Field(ge=1, le=MAX_TOKEN_DAYS), BeforeValidator(require_number)]


class TokenCreate(BaseModel):
    name: VisibleStr = Field(min_length=1, max_length=100, examples=["laptop script"])
    expires_in_days: TokenDays | None = Field(
        default=None,
        description="the token stops working this many days from now; omit (or null) to keep "
        "it until it is revoked",
        examples=[90],
    )


class TokenOut(BaseModel):
    """An API token as its owner sees it: never the secret, which is shown once."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str = Field(description="the token's first characters, to recognise it")
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="when it was last used (recorded at most every few minutes)"
    )
    expires_at: datetime | None = Field(description="null: until revoked")


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown only in this response, keep it safe")


class UserOut(BaseModel):
    """A user as an admin sees them."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    email: str
    is_admin: bool
    created_at: datetime
    disabled_at: datetime | None = Field(description="null: the user may sign in")
