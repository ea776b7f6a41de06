#!/bin/sh
# The bastion container's first start: host keys and a config in /var/lib/bastion (kept on later
# starts, edit it there), then the command (bastiond by default; `docker compose exec bastion
# bastionctl ...` finds the same config through BASTION_CONFIG).
set -eu
state=${BASTION_STATE:-/var/lib/bastion}
mkdir -p "$state/keys" "$state/recordings" "$state/journal"
for key in ssh_host_ed25519_key inner_host_ed25519_key upstream_ed25519_key; do
  [ -f "$state/keys/$key" ] || ssh-keygen -q -t ed25519 -N '' -C "$key" -f "$state/keys/$key"
done
if [ ! -f "$BASTION_CONFIG" ]; then
  : "${BASTION_DATABASE:?set BASTION_DATABASE to a libpq conninfo (see docker-compose.yml)}"
  cat >"$BASTION_CONFIG" <<YAML
# Written at the container's first start; edit freely, it is kept.
listen: ["0.0.0.0:2222"]
host_keys: ["$state/keys/ssh_host_ed25519_key"]
inner_host_key: "$state/keys/inner_host_ed25519_key"
upstream_key: "$state/keys/upstream_ed25519_key"
database: "$BASTION_DATABASE"
recording: { dir: "$state/recordings", failure_mode: fail_closed }
policy: { journal_spool: "$state/journal" }
metrics: { listen: "0.0.0.0:9122" }
YAML
fi
if [ "$1" = bastiond ]; then
  shift
  exec bastiond --config "$BASTION_CONFIG" "$@"
fi
exec "$@"
