#!/usr/bin/env bash
# Makes sure NATS (with JetStream), Postgres and Redis answer at NATS_URL, DATABASE_URL and REDIS_URL.
# One that does not, on a loopback address of a Debian machine where we are root, is installed from
# Debian's packages (if missing) and started as a private instance with its data under .cnode/infra.
# Anywhere else the script says exactly what to run, and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
DATA=$(pwd)/.cnode/infra
apt_updated=0

say() { echo "infra: $*"; }
die() { echo "infra: $*" >&2; exit 1; }

# "host port" of a URL.
host_port() {
  node -e 'const u = new URL(process.argv[1]); console.log(u.hostname.replace(/^\[|\]$/g, ""), u.port || process.argv[2])' "$1" "$2"
}

is_loopback() { case "$1" in 127.*|localhost|::1) return 0 ;; *) return 1 ;; esac; }
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

wait_for() { # what check-function args…
  local what=$1; shift
  for _ in $(seq 1 50); do "$@" && return 0; sleep 0.2; done
  die "$what did not come up; see its log under .cnode/infra"
}

apt_install() { # package
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    apt_updated=1
  fi
  say "installing Debian package $1"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

binary() { # name -> path, searching sbin too
  command -v "$1" 2>/dev/null || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || { [ -x "/usr/bin/$1" ] && echo "/usr/bin/$1"; } || true
}

# --- NATS -------------------------------------------------------------------------------------------
# A NATS server greets every connection with an INFO line that says whether JetStream is on.
nats_ok() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2; head -n 1 <&3" 2>/dev/null | grep -q '"jetstream":true'; }

ensure_nats() {
  read -r host port < <(host_port "$NATS_URL" 4222)
  if nats_ok "$host" "$port"; then say "NATS with JetStream at $host:$port"; return; fi
  if tcp_open "$host" "$port"; then die "$host:$port answers but is not NATS with JetStream enabled (start nats-server with -js)"; fi
  local cmd="nats-server -js -a $host -p $port -sd $DATA/nats/store"
  is_loopback "$host" || die "NATS is not reachable at $NATS_URL; start it there: $cmd"
  local bin; bin=$(binary nats-server)
  if [ -z "$bin" ]; then
    can_install || die "NATS is not running and nats-server is not installed; run: apt-get install nats-server && $cmd"
    apt_install nats-server; bin=$(binary nats-server)
    [ -n "$bin" ] || die "nats-server was installed but is not on PATH or in /usr/sbin"
  fi
  mkdir -p "$DATA/nats"
  # max_payload 8MB leaves room for a 1 MiB gossip message in its bus envelope (the default is 1 MiB).
  cat > "$DATA/nats/nats.conf" <<CONF
listen: "$host:$port"
max_payload: 8MB
jetstream { store_dir: "$DATA/nats/store" }
CONF
  say "starting a private NATS with JetStream at $host:$port (data in .cnode/infra/nats)"
  setsid "$bin" -c "$DATA/nats/nats.conf" -l "$DATA/nats/nats.log" -P "$DATA/nats/nats.pid" </dev/null >/dev/null 2>&1 &
  wait_for NATS nats_ok "$host" "$port"
}

# --- Redis ------------------------------------------------------------------------------------------
redis_ok() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2; printf 'PING\r\n' >&3; head -c 7 <&3" 2>/dev/null | grep -q PONG; }

ensure_redis() {
  read -r host port < <(host_port "$REDIS_URL" 6379)
  if redis_ok "$host" "$port"; then say "Redis at $host:$port"; return; fi
  local cmd="redis-server --bind $host --port $port --save '' --appendonly no --daemonize yes"
  is_loopback "$host" || die "Redis is not reachable at $REDIS_URL; start it there: $cmd"
  local bin; bin=$(binary redis-server)
  if [ -z "$bin" ]; then
    can_install || die "Redis is not running and redis-server is not installed; run: apt-get install redis-server && $cmd"
    apt_install redis-server; bin=$(binary redis-server)
    [ -n "$bin" ] || die "redis-server was installed but is not on PATH or in /usr/sbin"
  fi
  mkdir -p "$DATA/redis"
  say "starting a private Redis at $host:$port (no persistence; Redis holds only coordination)"
  "$bin" --daemonize yes --bind "$host" --port "$port" --save '' --appendonly no \
    --dir "$DATA/redis" --logfile "$DATA/redis/redis.log" --pidfile "$DATA/redis/redis.pid" >/dev/null
  wait_for Redis redis_ok "$host" "$port"
}

# --- Postgres ---------------------------------------------------------------------------------------
pg_ok() {
  if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h "$1" -p "$2" -t 2; else tcp_open "$1" "$2"; fi
}

ensure_postgres() {
  read -r host port < <(host_port "$DATABASE_URL" 5432)
  if pg_ok "$host" "$port"; then say "Postgres at $host:$port"; return; fi
  is_loopback "$host" || die "Postgres is not reachable at $DATABASE_URL; start it there"
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    can_install || die "Postgres is not running and not installed; run: apt-get install postgresql, then create a cluster on port $port with trust auth for local connections"
    apt_install postgresql
  fi
  local version; version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  # A Debian cluster already set up on this port is started; otherwise a private one is created.
  local cluster; cluster=$(pg_lsclusters -h 2>/dev/null | awk -v v="$version" -v p="$port" '$1 == v && $3 == p { print $2; exit }')
  if [ -z "$cluster" ]; then
    [ "$(id -u)" = 0 ] || die "Postgres is not running; as root run: pg_createcluster $version cnode -p $port -- --auth=trust && pg_ctlcluster $version cnode start"
    cluster=cnode
    say "creating Postgres cluster $version/$cluster on port $port (trust auth on loopback)"
    pg_createcluster "$version" "$cluster" -p "$port" -- --auth=trust >/dev/null
  fi
  say "starting Postgres cluster $version/$cluster on port $port"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
  wait_for Postgres pg_ok "$host" "$port"
}

ensure_nats
ensure_postgres
ensure_redis
