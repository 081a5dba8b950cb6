"""GET /api/v1/search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pegasus.dependencies import SessionDep, UserDep
from pegasus.routing import UnitOfWorkRoute
from pegasus.schemas_types import VisibleStr
from pegasus.search import service
from pegasus.search.schemas import SearchHit, SearchResults

router = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/v1", tags=["search"])


@router.get("/search", response_model=SearchResults, summary="Search your transcripts")
def search(
    q: Annotated[VisibleStr, Query(min_length=1, max_length=200, description="words to find")],
    user: UserDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> SearchResults:
    hits = service.search(session, owner_id=user.id, query=q, limit=limit)
    return SearchResults(
        query=q, hits=[SearchHit.model_validate(hit, from_attributes=True) for hit in hits]
    )
