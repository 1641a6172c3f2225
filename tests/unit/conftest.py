"""The unit tier: pure code, no services. pytest-django refuses database access here (no test
asks for it), and nothing connects to Redis: `make test ARGS=tests/unit` runs anywhere."""
