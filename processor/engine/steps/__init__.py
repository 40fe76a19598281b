"""Pipeline steps: each takes the context, does one thing or returns early, and fills it in."""
