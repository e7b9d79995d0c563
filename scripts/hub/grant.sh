#!/usr/bin/env bash
# What the hub tests (run as the cluster user) need from the demo hub's admin token, one named thing at a time,
# without ever seeing that token. Run as root; the tests call it through the sudo rule scripts/setup.sh
# installs for this file only (test machines; the admin token itself stays root-only, mode 600).
#   grant.sh token USER     print a token of USER's that expires in 30 minutes and can only start, stop, read
#                           and use USER's own server (scopes: servers, access:servers, read:users:name,
#                           each filtered to that user): how the isolation tests act "as bob"
#   grant.sh restart-hub    restart the hub, leaving every session running (POST /hub/api/shutdown)
set -euo pipefail
MLTF_HOME=/opt/mltf  # fixed: sudo resets the environment, and nothing the caller sets may move the files
HUB=$MLTF_HOME/lab/hub
API="http://127.0.0.1:8000/hub/api"
USERS="alice bob"  # the demo hub's users (scripts/hub/up.sh, MLTF_HUB_USERS)
usage() { echo "usage: grant.sh token USER (USER: ${USERS// /, }) | grant.sh restart-hub" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "grant.sh must run as root (through its sudo rule)" >&2; exit 1; }
[ -r "$HUB/ci-token" ] || { echo "no admin token at $HUB/ci-token: start the hub with scripts/hub/up.sh" >&2; exit 1; }
# shellcheck source=scripts/hub/admin-api.sh
. "$(dirname "$(readlink -f "$0")")/admin-api.sh"
admin() { admin_api 8000 -sS -f -m 60 "$@"; }

case "${1:-}" in
  token)
    user=${2:-}
    [[ " $USERS " == *" $user "* ]] && [ -n "$user" ] || usage
    body=$(printf '{"note": "grant.sh for %s, by %s", "expires_in": 1800, "scopes": ["servers!user=%s", "access:servers!user=%s", "read:users:name!user=%s"]}' \
      "$user" "${SUDO_USER:-root}" "$user" "$user" "$user")
    admin -X POST -H 'Content-Type: application/json' -d "$body" "$API/users/$user/tokens" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
    ;;
  restart-hub)
    [ $# = 1 ] || usage
    admin -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"servers": false, "proxy": true}' "$API/shutdown"
    echo "hub: restarting (sessions keep running)"
    ;;
  *) usage ;;
esac
