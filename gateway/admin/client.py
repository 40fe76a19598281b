"""task_service's operator statistics, for the admin routes."""

from gateway.task_client import TaskServiceClient
from schemas.stats import ImageStats


class StatsClient(TaskServiceClient):
    async def image_stats(self, period_days: int) -> ImageStats:
        response = await self._call("GET", "/internal/stats", params={"period_days": period_days})
        return ImageStats.model_validate_json(response.content)
