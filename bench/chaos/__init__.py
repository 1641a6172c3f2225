"""The chaos run: the real topology under load and injected faults, then a count of what was lost.

`python manage.py chaos [--minutes N] [--quick] [--seed S]` starts its own PostgreSQL and
Redis (AOF everysec), the web process, two relays, one worker per queue and beat; drives
dispatchers, reviewers and learners through the public API; injects faults on a seeded
schedule; lets the heals run; then checks, from Postgres and the search index, that every
accepted write took effect exactly once. See docs/chaos.md.
"""
