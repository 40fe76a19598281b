"""pixelmill task_service."""
