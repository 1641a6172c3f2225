"""The relay: drains outbox rows into Celery enqueues and Redis pub/sub publishes."""
