"""pixelmill processor."""
