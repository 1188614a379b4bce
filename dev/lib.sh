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
# Chosen below Linux's ephemeral range (32768-60999), where no outgoing connection can take it
# between this check and the server binding it.
free_port() {
  python3 -c '
import random, socket
for _ in range(200):
    port = random.randint(20000, 31999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port between 20000 and 31999")'
}

# Whether nothing listens on 127.0.0.1:$1.
port_free() {
  python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
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
# accepts any). Through dev/moto-server.py, which makes each DynamoDB request atomic as in AWS. Exports AWS_ENDPOINT_URL for every process started after it.
# Optional argument: the log's name in .dev-state (default moto), so dev/run and dev/test can
# each run their own.
start_moto() {
  local port log="$STATE_DIR/${1:-moto}.log"
  port="$(free_port)"
  "$VENV/bin/python" "$ROOT/dev/moto-server.py" -H 127.0.0.1 -p "$port" > "$log" 2>&1 &
  PIDS+=("$!")
  await_answers "$port" 30 "GET /moto-api/ any" || { cat "$log" >&2; return 1; }
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
  export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  log "moto (DynamoDB, Secrets Manager) on $AWS_ENDPOINT_URL"
}

# 64 random letters and digits (the shape of template.yaml's generated SessionSecret).
random_secret() {
  python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(64)))'
}

# A webhook signing secret in Scalekit's form: whsec_ and the base64 of 32 random bytes.
random_webhook_secret() {
  python3 -c 'import base64, secrets; print("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode())'
}

# The one polling helper: sends, in parallel, each "METHOD /path STATUS" request to
# 127.0.0.1:$1 until it answers with that status (`any`: any HTTP answer at all), for at most $2
# seconds in all. Redirects are not followed. cargo lambda watch starts a function on its first
# request, so a request may itself take long: each gets the time that is left.
await_answers() {
  local port="$1" timeout="$2"
  shift 2
  python3 - "$port" "$timeout" "$@" <<'PY'
import sys, time, urllib.request, urllib.error
from concurrent.futures import ThreadPoolExecutor

port, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])

class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

opener = urllib.request.build_opener(NoRedirect)

def until(spec):
    method, path, want = spec.split()
    while (left := deadline - time.monotonic()) > 0:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
        try:
            status = opener.open(request, timeout=max(left, 0.1)).status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = None
        if status is not None and (want == "any" or status == int(want)):
            return True
        time.sleep(0.2)
    print(f"{method} {path} on port {port}: no {want} answer", file=sys.stderr)
    return False

with ThreadPoolExecutor(len(sys.argv) - 3) as pool:
    sys.exit(0 if all(pool.map(until, sys.argv[3:])) else 1)
PY
}

# Creates in moto (AWS_ENDPOINT_URL) what template.yaml declares: the session table (as its
# SessionTable resource: keys, indexes, TTL attribute), the Scalekit client secret ($1), the
# webhook signing secret ($2) and a generated session secret.
# Exports SESSION_TABLE, SCALEKIT_CLIENT_SECRET_ARN, SCALEKIT_WEBHOOK_SECRET_ARN and
# SESSION_SECRET_ARN.
create_local_aws_resources() {
  local out
  out="$(CLIENT_SECRET="$1" WEBHOOK_SECRET="$2" SESSION_SECRET_VALUE="$(random_secret)" \
    "$VENV/bin/python" - "$ROOT/template.yaml" <<'PY'
import os, sys, boto3, yaml

class Template(yaml.SafeLoader):
    pass

# CloudFormation's short-form tags (!Ref, !GetAtt, ...): not needed for the table.
Template.add_multi_constructor("!", lambda loader, suffix, node: None)
with open(sys.argv[1]) as f:
    declared = yaml.load(f, Template)["Resources"]["SessionTable"]["Properties"]
region = os.environ.get("AWS_REGION", "us-east-1")
dynamodb = boto3.client("dynamodb", region_name=region)
secrets = boto3.client("secretsmanager", region_name=region)
table = "scalekit-login-sessions"
dynamodb.create_table(
    TableName=table,
    BillingMode=declared["BillingMode"],
    AttributeDefinitions=declared["AttributeDefinitions"],
    KeySchema=declared["KeySchema"],
    GlobalSecondaryIndexes=declared.get("GlobalSecondaryIndexes", []),
)
dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=declared["TimeToLiveSpecification"])
client = secrets.create_secret(Name="scalekit-login/client-secret", SecretString=os.environ["CLIENT_SECRET"])
webhook = secrets.create_secret(Name="scalekit-login/webhook-secret", SecretString=os.environ["WEBHOOK_SECRET"])
session = secrets.create_secret(Name="scalekit-login/session-secret", SecretString=os.environ["SESSION_SECRET_VALUE"])
print(table, client["ARN"], webhook["ARN"], session["ARN"])
PY
)" || return 1
  read -r SESSION_TABLE SCALEKIT_CLIENT_SECRET_ARN SCALEKIT_WEBHOOK_SECRET_ARN SESSION_SECRET_ARN <<< "$out"
  export SESSION_TABLE SCALEKIT_CLIENT_SECRET_ARN SCALEKIT_WEBHOOK_SECRET_ARN SESSION_SECRET_ARN
  log "moto: table $SESSION_TABLE, client, webhook and session secrets in Secrets Manager"
}

# The value template.yaml gives function $1's environment variable $2 (a plain string there).
template_variable() {
  "$VENV/bin/python" - "$ROOT/template.yaml" "$1" "$2" <<'PY'
import sys, yaml

class Template(yaml.SafeLoader):
    pass

# CloudFormation's short-form tags (!Ref, !GetAtt, ...): kept as plain values.
Template.add_multi_constructor("!", lambda loader, suffix, node: None)
path, function, variable = sys.argv[1:]
with open(path) as f:
    template = yaml.load(f, Template)
print(template["Resources"][function]["Properties"]["Environment"]["Variables"][variable])
PY
}

# cargo lambda watch's output without its request log (tower_http, DEBUG): the gateway in front
# of it logs one line per request, `METHOD /path STATUS LATENCY`, never a query string (codes,
# states, hints). Should a URL still reach a line, its query is hidden.
filter_request_log() {
  sed -u -E \
    -e '/request\{method=[A-Z]+ uri=\/\.rt\//d' \
    -e '/request\{method=[A-Z]+ uri=\/2015-03-31\//d' \
    -e '/: started processing request$/d' \
    -e '/AWS_LAMBDA_MAX_CONCURRENCY is set/d' \
    -e 's/^.*request\{method=([A-Z]+) uri=([^ ?]*)[^ ]* version=[^}]*\}: finished processing request latency=([0-9]+ [a-z]+) status=([0-9]+).*$/\1 \2 \4 \3/' \
    -e 's/(uri=[^ ?]*)\?[^ }]*/\1?[query hidden]/g'
}

# Debian's chromium for the browser tests (never a browser build of Playwright's own: that is a
# download). Installed with apt-get when run as root; otherwise a missing browser fails under CI
# (CI=true) and elsewhere makes the browser tests skip themselves.
ensure_chromium() {
  local chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
  if [ ! -x "$chromium" ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    log "installing Debian's chromium for the browser tests (first run only, about a minute)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium; } > "$STATE_DIR/apt-chromium.log" 2>&1 \
      || cat "$STATE_DIR/apt-chromium.log" >&2
  fi
  [ -x "$chromium" ] && return 0
  if [ "${CI:-}" = true ]; then
    log "no Chromium at $chromium, and it could not be installed: the browser tests need it under CI"
    return 1
  fi
  log "no Chromium at $chromium: the browser tests will skip (as root, ./dev/test installs it)"
}

# tests/browser's npm packages exactly as package-lock.json pins them (npm ci), when
# node_modules is missing or was installed from another lock.
ensure_browser_test_packages() {
  local dir="$ROOT/tests/browser" want
  local stamp="$dir/node_modules/.package-lock.sha256"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  [ "$(cat "$stamp" 2> /dev/null)" = "$want" ] && return 0
  log "npm ci in tests/browser (playwright-core, oidc-provider)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" > "$stamp"
}
