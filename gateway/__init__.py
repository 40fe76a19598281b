"""pixelmill gateway."""
