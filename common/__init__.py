"""Code shared by several pixelmill services: settings, logging, the CLI."""
