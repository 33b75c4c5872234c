# shellcheck shell=bash
# Sourced by scripts/local-cluster; uses its variables (DIR, PKI, RUN, LOGS, ports, BIN).
# ---------------------------------------------------------------------------------------------
# Processes: each started in its own session, PID in $RUN/<name>.pid, log in $LOGS/<name>.log.
# ---------------------------------------------------------------------------------------------
is_running() { # name
  local pid
  [ -f "$RUN/$1.pid" ] || return 1
  pid=$(cat "$RUN/$1.pid")
  kill -0 "$pid" 2>/dev/null
}

start() { # name command...
  local name="$1"; shift
  if is_running "$name"; then return 0; fi
  mkdir -p "$RUN" "$LOGS"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN/$name.pid"
  log "started $name (pid $!)"
}

# Runs the command until it succeeds. Fails after the timeout, or at once when the process named in
# WAIT_PROCESS (if set) has exited.
wait_for() { # description timeout-seconds command...
  local what="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [ -n "${WAIT_PROCESS:-}" ] && ! is_running "$WAIT_PROCESS"; then
      log "$WAIT_PROCESS exited while waiting for $what; last lines of $LOGS/$WAIT_PROCESS.log:"
      tail -15 "$LOGS/$WAIT_PROCESS.log" >&2
      return 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${timeout}s waiting for $what"
      for f in "$LOGS"/*.log; do
        [ -f "$f" ] || continue
        echo "----- last lines of $f" >&2
        tail -15 "$f" >&2
      done
      return 1
    fi
    sleep 0.2
  done
}

stop() { # name
  local name="$1" pid
  [ -f "$RUN/$name.pid" ] || return 0
  pid=$(cat "$RUN/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name (pid $pid) ignored SIGTERM; killing"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped $name (pid $pid)"
  fi
  rm -f "$RUN/$name.pid"
}

kc() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

