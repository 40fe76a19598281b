"""Task submission and reads."""
