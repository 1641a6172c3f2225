"""The transactional outbox: every side effect outside Postgres starts as a row here."""
