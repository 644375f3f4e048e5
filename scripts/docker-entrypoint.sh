#!/bin/sh
# ml-connector container entrypoint (installed as /usr/local/bin/mlc-entrypoint; see
# docs/deployment.md). Turns secret files into the environment variables the processes read,
# then replaces itself with the command, so the process gets signals as PID 1.
#
# - VAR_FILE=/path for a secret MLC_* or SFSIM_* variable VAR (one whose name ends in _SECRET,
#   _PASSWORD or _TOKEN, e.g. MLC_SALESFORCE_CLIENT_SECRET_FILE): VAR is set to the file's
#   content (trailing newlines removed) and VAR_FILE is unset. Setting both is an error.
#   Other *_FILE variables are configuration keys of their own (MLC_CLOUDSUITE_IONAPI_FILE,
#   MLC_TRANSFORMER_MAPPING_FILE) or read by the processes themselves (MLC_MASTER_KEY_FILE)
#   and are left alone.
# - MLC_SALESFORCE_CLIENT_SECRET from the compose secret /run/secrets/sf_client_secret when it
#   is mounted and the variable is not set otherwise.
# - `--wait-for FILE` (repeatable) before the command: waits until FILE exists and is readable
#   (the demo's extractor waits for the .ionapi file that cloudsuite-sim writes).
# Values are never printed.
set -eu

fail () {
    echo "mlc-entrypoint: $*" >&2
    exit 64
}

for var in $(env | sed -n 's/^\(\(MLC\|SFSIM\)_[A-Z0-9_]*_\(SECRET\|PASSWORD\|TOKEN\)_FILE\)=.*/\1/p'); do
    target=${var%_FILE}
    eval "path=\${$var:-}"
    eval "both=\${$target+set}"
    [ -z "$both" ] || fail "both $target and $var are set; use one"
    [ -n "$path" ] && [ -f "$path" ] && [ -r "$path" ] ||
        fail "$var: cannot read '$path' (is the secret mounted and readable by uid $(id -u)?)"
    value=$(cat "$path")
    export "$target=$value"
    unset "$var"
done

if [ -z "${MLC_SALESFORCE_CLIENT_SECRET+set}" ] && [ -r /run/secrets/sf_client_secret ]; then
    MLC_SALESFORCE_CLIENT_SECRET=$(cat /run/secrets/sf_client_secret)
    export MLC_SALESFORCE_CLIENT_SECRET
fi

log () {
    printf 'ts=%s level=%s proc=entrypoint event=%s %s\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "$3" >&2
}

while [ "${1:-}" = --wait-for ]; do
    [ $# -ge 2 ] || fail "--wait-for needs a file"
    waited=0
    until [ -r "$2" ]; do
        [ $((waited % 30)) -eq 0 ] && log info ENTRYPOINT_WAITING "file=$2 seconds=$waited"
        waited=$((waited + 1))
        sleep 1
    done
    [ $waited -eq 0 ] || log info ENTRYPOINT_READY "file=$2 seconds=$waited"
    shift 2
done

if [ $# -eq 0 ] || [ "$1" = help ] || [ "$1" = --help ]; then
    cat <<'TXT'
ml-connector image: run one process per container.
  mlc-extractor [--once]     CloudSuite -> transformer (one container per tenant/connection)
  mlc-transformer            mapping; binds the extract and load endpoints
  mlc-loader                 -> Salesforce; scale out freely
  mlc-replayer run|list|...  audit trail and dead letters; binds events/replay/control
  cloudsuite-sim, salesforce-sim   the bundled simulators (demo profile)
Configuration: MLC_CONFIG (default /etc/mlc/config.json) and MLC_* variables.
TXT
    exit 0
fi
exec "$@"
