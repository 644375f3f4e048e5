#!/usr/bin/env bash
# Metrics and health (issue 7): every daemon started with metrics.listen=127.0.0.1:0 logs
# event=MLC_METRICS listen=HOST:PORT, serves Prometheus text on /metrics whose counters move
# during a sync (records in/out per stage, API calls and token requests per system, the
# Sforce-Limit-Info usage, queue depths, dead letters) and /health 200; `mlc-<proc> health`
# probes it (exit 0). A loader whose Salesforce client secret is wrong has its org stopped:
# its /health turns 503 naming the reason and `mlc-loader health` exits 1. A transformer
# counts its loader, replayer and extractor peers and is unhealthy without them.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=40
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_METRICS_LISTEN=127.0.0.1:0

mlc_start_sims $TENANT --seed-suppliers $N --seed 11 || exit 1
mlc_start_pipeline "$CFG"
mlc_start extractor "$BIN/mlc-extractor" --config "$CFG"

# metrics_port NAME: the port from NAME.log's MLC_METRICS line (waits up to 20 s)
metrics_port () {
    local line
    for _ in $(seq 100); do
        line=$(grep -m1 -o 'event=MLC_METRICS listen=127.0.0.1:[0-9]*' "$MLC_TMP/$1.log" 2>/dev/null)
        if [ -n "$line" ]; then echo "${line##*:}"; return 0; fi
        sleep 0.2
    done
    return 1
}
declare -A PORT
for p in extractor transformer loader replayer; do
    PORT[$p]=$(metrics_port $p)
    check "$p logs its metrics address (MLC_METRICS)" test -n "${PORT[$p]}"
done

# metric PROC NAME [LABEL_REGEX]: the sum of the samples of mlc_NAME whose labels match
metric () {
    curl -fsS "http://127.0.0.1:${PORT[$1]}/metrics" |
        awk -v n="mlc_$2" -v re="${3:-.}" '$1 ~ "^" n "[{ ]" || $1 == n { if ($1 ~ re) s += $2 } END { print s + 0 }'
}
metric_at_least () { test "$(metric "$1" "$2" "${4:-.}")" -ge "$3"; }
accounts_are () { test "$(mlc_sf_stats "$SF" '.records.Account // 0')" -eq "$1"; }

check "/metrics answers with Prometheus text (HELP/TYPE lines, process label)" \
    bash -c "curl -fsS http://127.0.0.1:${PORT[loader]}/metrics | grep -q '^# TYPE mlc_records_in_total counter' &&
             curl -fsS http://127.0.0.1:${PORT[loader]}/metrics | grep -q 'process=\"loader\"'"
check "the sync completes: every supplier is an Account" mlc_wait_for 60 accounts_are $N
check "extractor: records_out_total counts every supplier" mlc_wait_for 10 metric_at_least extractor records_out_total $N
check "extractor: CloudSuite token requests counted" mlc_wait_for 10 metric_at_least extractor token_requests_total 1 cloudsuite
check "transformer: records_in_total moved" mlc_wait_for 10 metric_at_least transformer records_in_total $N
check "transformer: records_out_total moved" mlc_wait_for 10 metric_at_least transformer records_out_total $N
check "loader: records_in_total moved" mlc_wait_for 10 metric_at_least loader records_in_total $N
check "loader: records_out_total (loaded) moved" mlc_wait_for 10 metric_at_least loader records_out_total $N
check "loader: Salesforce API calls counted" mlc_wait_for 10 metric_at_least loader api_calls_total 1 salesforce
check "loader: Salesforce token requests counted" mlc_wait_for 10 metric_at_least loader token_requests_total 1 salesforce
check "loader: Sforce-Limit-Info usage reported" mlc_wait_for 10 metric_at_least loader salesforce_api_max 1
check "loader: the held-records queue depth is exported" \
    bash -c "curl -fsS http://127.0.0.1:${PORT[loader]}/metrics | grep -q '^mlc_queue_depth{process=\"loader\",queue=\"held\"}'"
check "loader: a transformer peer is connected (peers_connected)" mlc_wait_for 10 metric_at_least loader peers_connected 1
check "replayer: records_in_total moved (events)" mlc_wait_for 10 metric_at_least replayer records_in_total $N
check "replayer: loaded outcomes counted" mlc_wait_for 10 metric_at_least replayer events_total $N loaded
check "replayer: dead letters and replay queue exported" \
    bash -c "curl -fsS http://127.0.0.1:${PORT[replayer]}/metrics | grep -q '^mlc_dead_letters_open' &&
             curl -fsS http://127.0.0.1:${PORT[replayer]}/metrics | grep -q 'queue=\"replay\"'"
for p in extractor transformer loader replayer; do
    check "$p: /health is 200" curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$p]}/health"
    check "$p: mlc-$p health exits 0" \
        bash -c "MLC_METRICS_LISTEN=127.0.0.1:${PORT[$p]} '$BIN/mlc-$p' --config '$CFG' health >/dev/null 2>&1"
done

# A dead letter moves the replayer's gauge.
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" -d '{"Account":{"Phone":{"length":20}}}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V900001","Name":"Too Long Phone Inc","Phone":"+1 555 0100 0100 0100 0100 0199"}' >/dev/null
check "replayer: dead_letters_open rises to 1" mlc_wait_for 30 metric_at_least replayer dead_letters_open 1
check "loader: dead-lettered records counted as errors" mlc_wait_for 10 metric_at_least loader errors_total 1 dead_letter

# A loader with a wrong client secret: its org stops, it turns unhealthy. The transformer
# sends whole batches, each to one loader: the healthy loader stops (SIGTERM drains it) so
# that loader2 is the one the next records reach; it comes back afterwards.
L1=$(pgrep -f "mlc-loader --config $CFG" | head -1)
check "the healthy loader stops on SIGTERM" bash -c "kill -TERM $L1 && timeout 30 tail --pid=$L1 -f /dev/null"
MLC_SALESFORCE_CLIENT_SECRET=wrong-secret mlc_start loader2 "$BIN/mlc-loader" --config "$CFG"
PORT[loader2]=$(metrics_port loader2)
check "loader2 logs its metrics address" test -n "${PORT[loader2]}"
check "loader2: /health is 200 before any call" curl -fsS -o /dev/null "http://127.0.0.1:${PORT[loader2]}/health"
for i in $(seq 1 20); do
    curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
        -d "{\"VendNum\":\"V80$(printf %04d $i)\",\"Name\":\"Round Robin $i\"}" >/dev/null
done
unhealthy () {
    test "$(curl -s -o "$MLC_TMP/health2.out" -w '%{http_code}' "http://127.0.0.1:${PORT[loader2]}/health")" = 503
}
check "loader2 (refused credentials): /health turns 503" mlc_wait_for 60 unhealthy
check "... naming the stopped org" grep -q "stopped" "$MLC_TMP/health2.out"
check "... mlc-loader health exits 1" \
    bash -c "! MLC_METRICS_LISTEN=127.0.0.1:${PORT[loader2]} '$BIN/mlc-loader' --config '$CFG' health >/dev/null 2>&1"
check "... and its org_stopped gauge is 1" metric_at_least loader2 org_stopped 1
mlc_start loader "$BIN/mlc-loader" --config "$CFG"
PORT[loader]=$(metrics_port loader)
check "a loader with the right secret is healthy next to it" \
    mlc_wait_for 10 curl -fsS -o /dev/null "http://127.0.0.1:${PORT[loader]}/health"
check "mlc-loader health without metrics.listen exits 1" \
    bash -c "! MLC_METRICS_LISTEN= '$BIN/mlc-loader' --config '$CFG' health >/dev/null 2>&1"

# ---- extractor (issue 7): CloudSuite calls, token renewals, last successful poll, peers ------
check "extractor: IDO requests counted (api_calls_total, system cloudsuite)" \
    metric_at_least extractor api_calls_total 1 cloudsuite
check "extractor: token renewals exported" \
    bash -c "curl -fsS http://127.0.0.1:${PORT[extractor]}/metrics | grep -q '^mlc_token_renewals_total{.*system=\"cloudsuite\"'"
check "extractor: last successful vendor poll is a recent unix time" \
    metric_at_least extractor last_successful_poll_seconds $(( $(date +%s) - 600 )) 'entity="vendor"'
check "extractor: a transformer peer is connected" metric_at_least extractor peers_connected 1 transformer
# An extractor whose transformer never answers: unhealthy after peer_grace_s, saying why.
MLC_DATA_DIR=$MLC_TMP/data-x2 MLC_ZMQ_EXTRACT_ENDPOINT=ipc://$MLC_TMP/nobody.sock \
    MLC_CLOUDSUITE_PEER_GRACE_S=1 mlc_start extractor2 "$BIN/mlc-extractor" --config "$CFG"
X2=$MLC_LAST_PID
PORT[extractor2]=$(metrics_port extractor2)
x2_unhealthy () {
    test "$(curl -s -o "$MLC_TMP/health-x2.out" -w '%{http_code}' "http://127.0.0.1:${PORT[extractor2]}/health")" = 503
}
check "extractor without a transformer: /health turns 503" mlc_wait_for 20 x2_unhealthy
check "... naming the missing transformer peer" grep -q "no transformer peer connected" "$MLC_TMP/health-x2.out"
check "the connected extractor stays healthy" curl -fsS -o /dev/null "http://127.0.0.1:${PORT[extractor]}/health"
# its records wait for a transformer for the 30 s linger: no need to wait for that
kill -KILL "$X2"
wait "$X2" 2>/dev/null

# ---- transformer (issue 7): its peers (loaders, replayer, extractors) -------------------
for peer in loader replayer extractor; do
    check "transformer: a $peer peer is connected (peers_connected)" \
        mlc_wait_for 10 metric_at_least transformer peers_connected 1 "peer=\"$peer\""
done
# A transformer with endpoints nobody uses: unhealthy after peer_grace_s, naming the link;
# once a loader connects, the reason moves on to the next missing peer.
T2="MLC_DATA_DIR=$MLC_TMP/data-t2 MLC_ZMQ_EXTRACT_ENDPOINT=ipc://$MLC_TMP/t2-extract.sock
    MLC_ZMQ_LOAD_ENDPOINT=ipc://$MLC_TMP/t2-load.sock MLC_ZMQ_EVENTS_ENDPOINT=ipc://$MLC_TMP/t2-events.sock"
mlc_start transformer2 env $T2 MLC_TRANSFORMER_PEER_GRACE_S=1 "$BIN/mlc-transformer" --config "$CFG"
PORT[transformer2]=$(metrics_port transformer2)
t2_says () {
    test "$(curl -s -o "$MLC_TMP/health-t2.out" -w '%{http_code}' "http://127.0.0.1:${PORT[transformer2]}/health")" = 503 &&
        grep -q "$1" "$MLC_TMP/health-t2.out"
}
check "transformer without peers: /health turns 503 naming the loader link" \
    mlc_wait_for 20 t2_says "no loader peer connected"
check "... mlc-transformer health exits 1" \
    bash -c "! MLC_METRICS_LISTEN=127.0.0.1:${PORT[transformer2]} '$BIN/mlc-transformer' --config '$CFG' health >/dev/null 2>&1"
mlc_start loader3 env $T2 MLC_DATA_DIR=$MLC_TMP/data-t2l "$BIN/mlc-loader" --config "$CFG"
check "... a loader connects: the transformer counts it, and names the replayer link next" \
    mlc_wait_for 20 t2_says "no replayer peer connected"
check "... its peers_connected{peer=loader} is 1" metric_at_least transformer2 peers_connected 1 'peer="loader"'
check "the connected transformer stays healthy" curl -fsS -o /dev/null "http://127.0.0.1:${PORT[transformer]}/health"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
