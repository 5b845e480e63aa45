# Shared shell helpers: start postpress-sim in the background and learn its URL.
# Source it; it defines start_sim and stop_sim.

# start_sim ARGS... — starts target/$PROFILE/postpress-sim, sets SIM_URL and SIM_PID.
start_sim() {
    local bin="${SIM_BIN:-target/debug/postpress-sim}"
    local fifo
    fifo="$(mktemp -u)"
    mkfifo "$fifo"
    "$bin" --port 0 "$@" >"$fifo" 2>"${SIM_LOG:-/dev/null}" &
    SIM_PID=$!
    read -r SIM_URL <"$fifo"
    rm -f "$fifo"
    if [ -z "${SIM_URL:-}" ]; then
        echo "postpress-sim did not start" >&2
        return 1
    fi
    export SIM_URL SIM_PID
}

stop_sim() {
    if [ -n "${SIM_PID:-}" ]; then
        kill -TERM "$SIM_PID" 2>/dev/null || true
        wait "$SIM_PID" 2>/dev/null || true
        SIM_PID=
    fi
}
