# Sourced by grant.sh and down.sh (root): the one way they send the demo hub's admin token.
#   admin_api PORT CURL-ARGS...     curl with the token as a header file (never on a command line `ps` shows),
#                                   only when every listener on 127.0.0.1:PORT is root's: while the hub is down
#                                   a user could listen there and would receive the token.

# 0 when the port has listeners and all of them belong to root (uid column of /proc/net/tcp{,6}, LISTEN state)
root_listens() {
  local uids
  uids=$(awk -v port="$(printf ':%04X' "$1")" \
    'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == port { print $8 }' /proc/net/tcp /proc/net/tcp6 \
    2>/dev/null | sort -u)
  [ "$uids" = 0 ]
}

admin_api() {
  local port=$1; shift
  if ! root_listens "$port"; then
    echo "refusing to send the hub's admin token: 127.0.0.1:$port is not the hub's (not root's, or nothing)" >&2
    return 1
  fi
  curl -H @<(printf 'Authorization: token %s\n' "$(cat "$HUB/ci-token")") "$@"
}
