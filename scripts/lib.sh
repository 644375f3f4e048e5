# Shell helpers shared by scripts/demo.sh, the integration tests and the benchmark:
# start the simulators and the pipeline on loopback/ipc, wait for them, stop them.
# Source it; set BIN (binaries) first. Every process started here is stopped by mlc_cleanup.

: "${BIN:=build/bin}"
MLC_PIDS=()
MLC_TMP=""

# mlc_tmpdir: a fresh work directory for this run, removed by mlc_cleanup unless KEEP=1.
mlc_tmpdir () {
    MLC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/mlc.XXXXXX")
}

# mlc_cleanup: SIGTERM every process we started, wait a little, then SIGKILL what is left.
mlc_cleanup () {
    local pid
    for pid in "${MLC_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        local alive=0
        for pid in "${MLC_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ $alive -eq 0 ] && break
        sleep 0.1
    done
    for pid in "${MLC_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    MLC_PIDS=()
    if [ -n "$MLC_TMP" ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$MLC_TMP"; fi
}

# mlc_start NAME CMD...: starts CMD in the background, output to $MLC_TMP/NAME.log;
# sets MLC_LAST_PID.
mlc_start () {
    local name=$1; shift
    "$@" >"$MLC_TMP/$name.log" 2>&1 &
    MLC_LAST_PID=$!
    MLC_PIDS+=("$MLC_LAST_PID")
}

# mlc_start_sim NAME CMD...: starts a simulator and waits for its "listening on" line;
# sets MLC_LAST_PORT. Returns 1 if it did not come up within 20 s.
mlc_start_sim () {
    local name=$1; shift
    mlc_start "$name" "$@"
    local line
    for _ in $(seq 200); do
        line=$(grep -m1 -o 'listening on http://[0-9.]*:[0-9]*' "$MLC_TMP/$name.log" 2>/dev/null || true)
        if [ -n "$line" ]; then MLC_LAST_PORT=${line##*:}; return 0; fi
        kill -0 "$MLC_LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "$name did not start; its log:" >&2
    cat "$MLC_TMP/$name.log" >&2
    return 1
}

# mlc_start_sims TENANT [CLOUDSUITE-SIM ARGS...] [-- SALESFORCE-SIM ARGS...]: starts
# cloudsuite-sim for TENANT (its .ionapi file in $MLC_TMP/ionapi) and salesforce-sim (client
# demo-client, secret $MLC_SALESFORCE_CLIENT_SECRET) on free ports, and writes their
# pipeline configuration; sets CS and SF (the ports), CS_PID (cloudsuite-sim's process) and
# CFG (the configuration file).
mlc_start_sims () {
    local tenant=$1; shift
    local cs_args=() sf_args=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do cs_args+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    sf_args=("$@")
    mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant "$tenant" \
        --ionapi-dir "$MLC_TMP/ionapi" "${cs_args[@]}" || return 1
    CS=$MLC_LAST_PORT
    CS_PID=$MLC_LAST_PID
    mlc_start_sim sfsim "$BIN/salesforce-sim" --listen 127.0.0.1:0 --client-id demo-client \
        --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" "${sf_args[@]}" || return 1
    SF=$MLC_LAST_PORT
    CFG=$MLC_TMP/config.json
    mlc_write_config "$CFG" "$CS" "$SF" "$tenant"
}

# mlc_wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds; 1 on timeout.
mlc_wait_for () {
    local secs=$1; shift
    local end=$(( $(date +%s) + secs ))
    while [ "$(date +%s)" -lt "$end" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

# mlc_sf_stats PORT [JQ]: salesforce-sim statistics (optionally filtered by jq).
mlc_sf_stats () {
    curl -fsS "http://127.0.0.1:$1/__sim/stats" | jq -r "${2:-.}"
}

# mlc_cs_stats PORT [JQ]: cloudsuite-sim statistics.
mlc_cs_stats () {
    curl -fsS "http://127.0.0.1:$1/__sim/stats" | jq -r "${2:-.}"
}

# mlc_write_config FILE CS_PORT SF_PORT TENANT: a throw-away configuration for a run on the
# simulators: ipc endpoints and data under $MLC_TMP.
mlc_write_config () {
    local file=$1 cs_port=$2 sf_port=$3 tenant=$4
    cat >"$file" <<JSON
{
  "log": {"level": "${MLC_LOG_LEVEL:-info}"},
  "data_dir": "$MLC_TMP/data",
  "zmq": {
    "extract_endpoint": "ipc://$MLC_TMP/extract.sock",
    "load_endpoint": "ipc://$MLC_TMP/load.sock",
    "events_endpoint": "ipc://$MLC_TMP/events.sock",
    "replay_endpoint": "ipc://$MLC_TMP/replay.sock",
    "control_endpoint": "ipc://$MLC_TMP/control.sock",
    "confirm_endpoint": "ipc://$MLC_TMP/confirm.sock"
  },
  "cloudsuite": {
    "ionapi_file": "$MLC_TMP/ionapi/$tenant.ionapi",
    "mongoose_config": "CSI_DEMO",
    "allow_http": true,
    "poll_interval_s": 2
  },
  "transformer": {"mapping_file": "${MLC_MAPPING:-config/mapping.json}"},
  "salesforce": {
    "url": "http://127.0.0.1:$sf_port",
    "client_id": "${MLC_SF_CLIENT_ID:-demo-client}",
    "allow_http": true,
    "flush_ms": 100
  }
}
JSON
}

# mlc_start_pipeline CONFIG: starts replayer, transformer and one loader (the client
# secret comes from the environment, as compose passes it).
mlc_start_pipeline () {
    local cfg=$1
    mlc_start replayer "$BIN/mlc-replayer" --config "$cfg" run
    mlc_start transformer "$BIN/mlc-transformer" --config "$cfg"
    mlc_start loader "$BIN/mlc-loader" --config "$cfg"
}

# mlc_cs_fetch CS_PORT TENANT IDO [PROPERTIES]: every record of an IDO straight from
# cloudsuite-sim, as a JSON array (a token is fetched with the tenant's .ionapi file).
mlc_cs_fetch () {
    local port=$1 tenant=$2 ido=$3 props=${4:-*}
    local f="$MLC_TMP/ionapi/$tenant.ionapi" token
    token=$(curl -fsS -X POST "$(jq -r '.pu + .ot' "$f")" \
        --data-urlencode grant_type=password \
        --data-urlencode "username=$(jq -r .saak "$f")" \
        --data-urlencode "password=$(jq -r .sask "$f")" \
        --data-urlencode "client_id=$(jq -r .ci "$f")" \
        --data-urlencode "client_secret=$(jq -r .cs "$f")" | jq -r .access_token) || return 1
    curl -fsS -G "http://127.0.0.1:$port/$tenant/CSI/IDORequestService/ido/load/$ido" \
        -H "Authorization: Bearer $token" -H "X-Infor-MongooseConfig: CSI_DEMO" \
        --data-urlencode "properties=$props" --data-urlencode recordcap=0 | jq '.Items'
}

# mlc_check_logs: fails (prints why) when any log of this run holds a sanitizer report.
mlc_check_logs () {
    local bad
    bad=$(grep -lE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$MLC_TMP"/*.log 2>/dev/null)
    if [ -n "$bad" ]; then
        echo "sanitizer reports in: $bad" >&2
        for f in $bad; do grep -A30 -E 'ERROR: |runtime error:' "$f" | head -60 >&2; done
        return 1
    fi
    return 0
}

# TAP helpers for integration tests: check DESC CMD... prints "ok - DESC" or "not ok - DESC".
TAP_FAILED=0
check () {
    local desc=$1; shift
    if "$@"; then echo "ok - $desc"; else echo "not ok - $desc"; TAP_FAILED=1; fi
}
