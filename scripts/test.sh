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
echo "[test] pytest"
exec .venv/bin/python -m pytest "$@"
