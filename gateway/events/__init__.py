"""Live progress: Server-Sent Events fed by PostgreSQL LISTEN/NOTIFY."""
