"""`/api/v1/admin/*`: operator views; every route needs the role `admin`."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from gateway.deps import Tasks, require_admin
from gateway.errors import ERROR_RESPONSES, error_doc
from schemas.stats import DEFAULT_PERIOD_DAYS, MAX_PERIOD_DAYS, ImageStats

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses={403: error_doc("`forbidden`: the token lacks the role `admin`")},
)


@router.get(
    "/stats",
    summary="Images done and failed per day",
    responses={503: ERROR_RESPONSES[503]},
)
async def image_stats(
    tasks: Tasks,
    period_days: Annotated[
        int, Query(ge=1, le=MAX_PERIOD_DAYS, description="how many days back, today included")
    ] = DEFAULT_PERIOD_DAYS,
) -> ImageStats:
    return await tasks.image_stats(period_days)
