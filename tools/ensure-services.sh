#!/usr/bin/env bash
# Make sure RabbitMQ, PostgreSQL and MariaDB answer on 127.0.0.1, starting
# (and, on a bare Debian machine, installing) them when they do not.
# Functional tests need all three; unit tests need none.
set -uo pipefail

log() { echo "ensure-services: $*"; }

have() { command -v "$1" >/dev/null 2>&1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # name port seconds
    for _ in $(seq 1 "$3"); do port_open "$2" && return 0; sleep 1; done
    log "$1 did not open port $2 in $3 s"; return 1
}

install_missing() {
    local pkgs=()
    have rabbitmq-server || pkgs+=(rabbitmq-server)
    have pg_ctlcluster || pkgs+=(postgresql)
    have mariadbd || [ -x /usr/sbin/mariadbd ] || pkgs+=(mariadb-server)
    if [ ${#pkgs[@]} -gt 0 ]; then
        log "installing ${pkgs[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "${pkgs[@]}" >/dev/null
    fi
}

ensure_rabbitmq() {
    if ! port_open 5672; then
        log "starting RabbitMQ"
        rabbitmq-server -detached
    fi
    # NOTE: await_startup returns at once before the node registered: loop.
    for _ in $(seq 1 60); do
        rabbitmqctl -q await_startup >/dev/null 2>&1 &&
            rabbitmqctl -q status >/dev/null 2>&1 && port_open 5672 && return 0
        sleep 1
    done
    log "RabbitMQ did not come up"; return 1
}

ensure_postgresql() {
    port_open 5432 && return 0
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" \
        main start
    wait_port PostgreSQL 5432 60
}

ensure_mariadb() {
    port_open 3306 && return 0
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd \
        -- --user=mysql
    wait_port MariaDB 3306 60
}

install_missing
status=0
ensure_rabbitmq || status=1
ensure_postgresql || status=1
ensure_mariadb || status=1
[ $status -eq 0 ] && log "RabbitMQ, PostgreSQL and MariaDB are up"
exit $status
