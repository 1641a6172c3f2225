#!/usr/bin/env bash
# `make up`: install what is missing, start PostgreSQL and Redis, migrate, seed the demo,
# then run every process in the foreground. Ctrl-C stops them all, and stops PostgreSQL
# and Redis too if this command started them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
already_running=0
python3 scripts/services.py status >/dev/null 2>&1 && already_running=1
python3 scripts/services.py start >/dev/null
if [ "$already_running" = 0 ]; then
  trap 'python3 scripts/services.py stop' EXIT
fi

.venv/bin/python manage.py migrate --noinput
.venv/bin/python manage.py seed_demo

port=${FERRY_PORT:-8000}
# Links in the mail the worker sends (invitations, password resets) point at this server.
export FERRY_BASE_URL=${FERRY_BASE_URL:-http://127.0.0.1:${port}}
cat <<MSG

  Ferry is starting: http://127.0.0.1:${port}/
  (PostgreSQL on 127.0.0.1:${FERRY_PG_PORT:-55432}, Redis on 127.0.0.1:${FERRY_REDIS_PORT:-56379}; Ctrl-C stops everything)
  Mail it sends (invitations, password resets) is kept in .var/mail/new/, one file per message.

MSG
FERRY_PORT=$port .venv/bin/honcho start -f Procfile
