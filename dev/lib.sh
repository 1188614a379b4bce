# Helpers sourced by dev/run and dev/test. Everything they need is installed here, into the
# project (./.venv), so a fresh machine needs nothing but Rust, Python 3 and network access to
# the package registries.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STATE_DIR="$ROOT/.dev-state"
mkdir -p "$STATE_DIR"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Creates ./.venv and installs dev/requirements.txt when they changed since the last install.
ensure_python_tools() {
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$ROOT/dev/requirements.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing Python tools into .venv (first run only)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/dev/requirements.txt"
  echo "$want" > "$stamp"
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until http://127.0.0.1:$1$2 answers, or fails after ~30 s.
wait_for_http() {
  local port="$1" path="${2:-/}"
  for _ in $(seq 1 150); do
    if python3 - "$port" "$path" <<'PY' 2>/dev/null; then return 0; fi
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=1)
except urllib.error.HTTPError:
    pass
PY
    sleep 0.2
  done
  log "nothing answered on port $port"
  return 1
}

PIDS=()
stop_started() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
}

# Starts moto's server on a free port and points the AWS SDK at it (fake credentials: moto
# accepts any). Exports AWS_ENDPOINT_URL for every process started after it.
start_moto() {
  local port
  port="$(free_port)"
  "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" > "$STATE_DIR/moto.log" 2>&1 &
  PIDS+=("$!")
  wait_for_http "$port" /moto-api/ || { cat "$STATE_DIR/moto.log" >&2; return 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  log "moto (DynamoDB, Secrets Manager) on $AWS_ENDPOINT_URL"
}
