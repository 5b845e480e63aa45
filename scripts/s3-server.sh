#!/usr/bin/env bash
# An S3-compatible server (moto) on loopback for the S3 sink tests and demos.
#
#   scripts/s3-server.sh start   start it in the background unless it already runs
#   scripts/s3-server.sh env     print the AWS_* variables that point a client at it
#   scripts/s3-server.sh stop    stop it
#   scripts/s3-server.sh status  say whether it runs, exit 1 if not
#
# Typical use: scripts/s3-server.sh start && eval "$(scripts/s3-server.sh env)".
# The port is $S3_PORT, default 9000, or a free one when that is taken. The pid file, the chosen
# port and the log live in target/s3-server/. The server keeps everything in memory and starts
# empty; it creates no bucket: each test creates its own. What moto does and does not support
# is in scripts/S3-NOTES.md.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/target/s3-server"
pid_file="$dir/pid"
port_file="$dir/port"
log="$dir/server.log"
py="$root/.venv/bin/python"
host=127.0.0.1

# The pid from the pid file, if that process is still our moto server (pids get reused).
running_pid() {
    [[ -f "$pid_file" ]] || return 1
    local pid
    pid="$(cat "$pid_file")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    ps -p "$pid" -o args= 2>/dev/null | grep -q moto_server || return 1
    echo "$pid"
}

# True when something answers HTTP on the port (any status code counts as an answer).
answers() {
    "$py" - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=1)
except urllib.error.HTTPError:
    pass
except Exception:
    sys.exit(1)
PY
}

# Prints $1 if it can be bound on loopback, otherwise a free port the kernel picks.
pick_port() {
    "$py" - "$1" <<'PY'
import socket, sys
def bind(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    finally:
        s.close()
try:
    print(bind(int(sys.argv[1])))
except OSError:
    print(bind(0))
PY
}

start() {
    if pid="$(running_pid)"; then
        echo "s3-server: already running on $host:$(cat "$port_file") (pid $pid)"
        return 0
    fi
    if [[ ! -x "$root/.venv/bin/moto_server" ]]; then
        "$root/scripts/venv.sh" >/dev/null
    fi
    mkdir -p "$dir"
    local port
    port="$(pick_port "${S3_PORT:-9000}")"
    # setsid: its own session, so a Ctrl-C meant for the caller's make does not reach it.
    setsid "$root/.venv/bin/moto_server" -H "$host" -p "$port" >"$log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$pid_file"
    echo "$port" >"$port_file"
    local i
    for i in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            echo "s3-server: moto_server exited during startup (log above, also in $log)" >&2
            rm -f "$pid_file" "$port_file"
            return 1
        fi
        if answers "$port"; then
            echo "s3-server: running on $host:$port (pid $pid, log $log)"
            return 0
        fi
        sleep 0.2
    done
    echo "s3-server: moto_server did not answer on $host:$port within 20s (log: $log)" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$pid_file" "$port_file"
    return 1
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$pid_file" "$port_file"
        echo "s3-server: not running"
        return 0
    fi
    kill "$pid"
    local i
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file" "$port_file"
    echo "s3-server: stopped (pid $pid)"
}

env_lines() {
    if ! running_pid >/dev/null; then
        echo "s3-server: not running; start it with scripts/s3-server.sh start" >&2
        return 1
    fi
    local port
    port="$(cat "$port_file")"
    # AWS_ALLOW_HTTP: object_store refuses plain http endpoints without it.
    echo "export AWS_ENDPOINT_URL=http://$host:$port"
    echo "export AWS_ACCESS_KEY_ID=test"
    echo "export AWS_SECRET_ACCESS_KEY=test"
    echo "export AWS_REGION=us-east-1"
    echo "export AWS_ALLOW_HTTP=true"
}

status() {
    local pid
    if pid="$(running_pid)"; then
        echo "s3-server: running on $host:$(cat "$port_file") (pid $pid)"
    else
        echo "s3-server: not running"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) env_lines ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|env|status" >&2
        exit 2
        ;;
esac
