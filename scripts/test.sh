#!/usr/bin/env bash
# `make test`: everything CI checks, in order from cheapest to slowest.
# Extra arguments go to pytest (for example: make test ARGS="tests/unit -x").
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
python3 scripts/services.py start >/dev/null

echo "[test] ruff";  .venv/bin/ruff check .
echo "[test] mypy";  .venv/bin/mypy .
echo "[test] import contracts (adr/0013-layers.md)"
.venv/bin/lint-imports --no-cache
echo "[test] migrations are up to date"
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
if [ $# -gt 0 ]; then
    echo "[test] pytest $*"
    exec .venv/bin/python -m pytest "$@"
fi
# The unit, solver and integration tiers are isolated per process (each pytest-xdist worker has
# its own PostgreSQL and Redis databases: tests/settings.py), so they share the cores.
# One worker per core, at most 8 (each takes three of Redis's 64 databases). --dist load, not
# loadscope: loadscope keys tests by node id, and the API fuzz's 81 cases share one, so it ran
# only one of them.
workers=${FERRY_TEST_WORKERS:-$(( $(nproc) < 8 ? $(nproc) : 8 ))}
# The end-to-end and browser tiers (and any new directory of tests) start real processes and
# time them, so they run after, on two workers at most: they are isolated per worker too, and
# mostly wait for those processes. --dist loadgroup keeps every browser test on one worker
# (tests/conftest.py, pytest_xdist_make_scheduler): one stack and one Chromium at a time. A
# test that needs Redis's FLUSHALL runs a redis-server of its own (private_redis), never on
# the shared one.
e2e_workers=${FERRY_E2E_WORKERS:-$(( $(nproc) < 2 ? $(nproc) : 2 ))}
status=0
echo "[test] pytest, unit + solver + integration, $workers workers"
.venv/bin/python -m pytest -n "$workers" --dist load --durations=5 \
    tests/unit tests/solver tests/integration || status=$?
echo "[test] pytest, end to end + browser, $e2e_workers workers"
.venv/bin/python -m pytest -n "$e2e_workers" --dist loadgroup --durations=10 \
    tests --ignore=tests/unit --ignore=tests/solver --ignore=tests/integration || status=$?
exit "$status"
