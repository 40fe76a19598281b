"""pixelmill user_service."""
