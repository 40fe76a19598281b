"""Operator statistics: task_service computes them, the gateway serves them to admins."""

from datetime import date

from pydantic import BaseModel, Field

MAX_PERIOD_DAYS = 365
DEFAULT_PERIOD_DAYS = 7


class DailyImageCounts(BaseModel):
    day: date = Field(description="a UTC calendar day")
    done: int = Field(description="images that finished successfully that day")
    failed: int = Field(description="images that failed for good that day")


class ImageStats(BaseModel):
    period_days: int
    days: list[DailyImageCounts] = Field(
        description="every day of the period, oldest first, today (UTC) last; days without "
        "finished images count zero"
    )
