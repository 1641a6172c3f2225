"""Live updates: a server-sent events stream of a user's channels, replayable from Postgres (ADR 0009)."""
