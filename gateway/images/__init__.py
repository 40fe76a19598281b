"""Serving processed images."""
