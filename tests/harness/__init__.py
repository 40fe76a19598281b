"""Pieces shared by the suites that run pixelmill's services as real processes."""
