"""Image jobs: claim, fetch, process, store, record."""
