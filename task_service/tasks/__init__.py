"""Tasks: creation, publishing of their image jobs, and the read model."""
