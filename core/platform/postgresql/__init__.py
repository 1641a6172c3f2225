"""Django's PostgreSQL backend, with statements deferred to the commit (base.DatabaseWrapper)."""
