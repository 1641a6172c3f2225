#!/usr/bin/env bash
# Create or update the Python environment in .venv/ from uv.lock (no-op when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
TOOLS=.var/tools
export UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy

python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "[bootstrap] Python 3.11 or newer is required (python3 on PATH)" >&2
  exit 1
fi

if ! "$TOOLS/bin/uv" --version 2>/dev/null | grep -q "uv $UV_VERSION"; then
  echo "[bootstrap] installing uv $UV_VERSION into $TOOLS"
  if ! "$python" -m venv --clear "$TOOLS" >/dev/null 2>&1; then
    # Debian's system Python keeps venv in a separate package.
    python3 scripts/services.py apt python3-venv
    "$python" -m venv --clear "$TOOLS"
  fi
  "$TOOLS/bin/pip" install --quiet "uv==$UV_VERSION"
fi

# Debian packages listed in scripts/debian-packages.txt, when missing.
missing=$(grep -v '^\s*\(#\|$\)' scripts/debian-packages.txt | while read -r pkg; do
  dpkg -s "$pkg" >/dev/null 2>&1 || echo "$pkg"; done | tr '\n' ' ')
if [ -n "${missing// /}" ]; then
  python3 scripts/services.py apt $missing
fi

stamp=.venv/.ferry-lock-hash
want=$(cat uv.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[bootstrap] syncing .venv from uv.lock"
  "$TOOLS/bin/uv" sync --frozen --python "$python" --quiet
  echo "$want" > "$stamp"
fi
