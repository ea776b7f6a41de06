# Shell helpers for the embedded default state under var/ (sourced by scripts/run).
# Sets: var, config, service_user, pg_bin, pg_data, pg_sock.

pg_bin=/usr/lib/postgresql/15/bin

# A command prefix that runs as the service user: setpriv execs, so "${as_service_cmd[@]}" cmd &
# leaves $! as the command's own PID (a shell function would put a subshell in between).
as_service_cmd=()

as_service() {
  "${as_service_cmd[@]}" "$@"
}

# Lets the service user enter DIR and every directory above it (setfacl where it could not).
let_service_enter() {
  local dir=$1
  while [ "$dir" != "/" ]; do
    if ! setpriv --reuid="$service_user" --regid="$service_user" --init-groups -- test -x "$dir" 2>/dev/null; then
      echo "run: letting user $service_user enter $dir (setfacl -m u:$service_user:x)" >&2
      setfacl -m "u:$service_user:x" "$dir"
    fi
    dir=$(dirname "$dir")
  done
}

# As root: a system user for PostgreSQL (which refuses to run as root) and bastiond, and search
# permission for it on every directory above var/ and on the binaries' directory, so a checkout
# under /root works too.
ensure_service_user() {
  if [ "$(id -u)" -ne 0 ]; then
    service_user=$(id -un)
    return
  fi
  service_user=bastion
  as_service_cmd=(setpriv --reuid="$service_user" --regid="$service_user" --init-groups --)
  if ! id -u "$service_user" >/dev/null 2>&1; then
    useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin "$service_user"
  fi
  let_service_enter "$(dirname "$var")"
  let_service_enter "$bin_dir"
}

make_key() {
  local path=$1
  if [ ! -f "$path" ]; then
    as_service ssh-keygen -q -t ed25519 -N '' -C "$(basename "$path")" -f "$path"
  fi
}

write_config() {
  [ -f "$config" ] && return
  cat >"$config" <<YAML
# Written by scripts/run for the embedded default; edit freely, scripts/run keeps it.
listen: ["127.0.0.1:2222"]
host_keys: ["$var/keys/ssh_host_ed25519_key"]
inner_host_key: "$var/keys/inner_host_ed25519_key"
upstream_key: "$var/keys/upstream_ed25519_key"
database: "host=$pg_sock dbname=bastion user=bastion"
recording: { dir: "$var/recordings", failure_mode: fail_closed }
policy:  { max_staleness: 5m, journal_spool: "$var/journal" }
admin:   { listen: "127.0.0.1:8022" }
metrics: { listen: "127.0.0.1:9122" }
limits:  { login_grace_time: 120s, max_auth_tries: 6, max_startups: "10:30:100", max_sessions: 10,
           idle_timeout: 0s, max_session_duration: 0s, drain_timeout: 30s, connect_timeout: 10s }
YAML
  chmod 0644 "$config"
}

# state_prepare VAR_DIR BIN_DIR
state_prepare() {
  var=$1
  bin_dir=$2
  config=$var/bastion.yaml
  pg_data=$var/pg
  pg_sock=$var/run
  mkdir -p "$var"
  ensure_service_user
  install -d -m 0700 -o "$service_user" -g "$service_user" "$var/keys" "$var/run" "$var/recordings" "$var/journal" "$var/log"
  chown "$service_user:$service_user" "$var"
  make_key "$var/keys/ssh_host_ed25519_key"
  make_key "$var/keys/inner_host_ed25519_key"
  make_key "$var/keys/upstream_ed25519_key"
  if [ ! -f "$pg_data/PG_VERSION" ]; then
    install -d -m 0700 -o "$service_user" -g "$service_user" "$pg_data"
    echo "run: creating the private PostgreSQL cluster in $pg_data" >&2
    as_service "$pg_bin/initdb" -D "$pg_data" -U bastion --auth-local=trust --auth-host=reject \
      --encoding=UTF8 --locale=C.UTF-8 >"$var/log/initdb.log"
  fi
  write_config
}

pg_start() {
  # Only the Unix socket, in a directory only the service user (and root) can enter.
  as_service "$pg_bin/pg_ctl" -D "$pg_data" -l "$var/log/postgresql.log" -w -t 60 start \
    -o "-c listen_addresses='' -k $pg_sock -c unix_socket_permissions=0700" >/dev/null
  if ! as_service "$pg_bin/psql" -h "$pg_sock" -U bastion -d postgres -tAq \
      -c "SELECT 1 FROM pg_database WHERE datname = 'bastion'" | grep -q 1; then
    as_service "$pg_bin/createdb" -h "$pg_sock" -U bastion bastion
  fi
}

pg_stop() {
  as_service "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
}
