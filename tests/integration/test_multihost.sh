#!/usr/bin/env bash
# Multi-host (issue 7): the processes on two "hosts" — network namespaces joined by a veth
# pair — talk ZeroMQ over TCP with CURVE: transformer and replayer in one namespace, the
# extractor and the loader in the other; the simulators run in the root namespace and are
# reached over a second veth link. A small sync must deliver every supplier exactly once,
# with ZAP denying nothing. Needs root (ip netns add); where namespaces cannot be created
# the test prints one `ok - # SKIP` line and exits 0.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=60
TENANT=ACME_PRD
TAG=mlc$$
NSA=${TAG}a # "host A": transformer, replayer
NSB=${TAG}b # "host B": extractor, loader
if ! ip netns add "$NSA" 2>/dev/null; then
    echo "ok - multi-host over network namespaces # SKIP ip netns add is not permitted here"
    exit 0
fi
mlc_tmpdir
cleanup () {
    mlc_cleanup
    ip netns del "$NSA" 2>/dev/null
    ip netns del "$NSB" 2>/dev/null
    ip link del "${TAG}r" 2>/dev/null
    true
}
trap cleanup EXIT
# 10.X.0.0/30 between the hosts, 10.X.1.0/30 between host B and the root namespace (sims)
# the plain and the sanitizer pass may run at once (tests/run.sh): disjoint subnets
case "$BIN" in *asan*) X=$(( 100 + RANDOM % 75 )) ;; *) X=$(( 175 + RANDOM % 75 )) ;; esac
A_IP=10.$X.0.1 B_IP=10.$X.0.2 ROOT_IP=10.$X.1.1 B2_IP=10.$X.1.2
net_up () {
    ip netns add "$NSB" &&
    ip link add "${TAG}x" type veth peer name "${TAG}y" &&
    ip link set "${TAG}x" netns "$NSA" && ip link set "${TAG}y" netns "$NSB" &&
    ip -n "$NSA" addr add $A_IP/30 dev "${TAG}x" && ip -n "$NSB" addr add $B_IP/30 dev "${TAG}y" &&
    ip link add "${TAG}r" type veth peer name "${TAG}s" &&
    ip link set "${TAG}s" netns "$NSB" &&
    ip addr add $ROOT_IP/30 dev "${TAG}r" && ip -n "$NSB" addr add $B2_IP/30 dev "${TAG}s" &&
    ip link set "${TAG}r" up &&
    for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up || return 1; done &&
    ip -n "$NSA" link set "${TAG}x" up && ip -n "$NSB" link set "${TAG}y" up &&
    ip -n "$NSB" link set "${TAG}s" up
}
check "two namespaces joined by veth pairs ($A_IP <-> $B_IP, sims at $ROOT_IP)" net_up

export MLC_SALESFORCE_CLIENT_SECRET="mh-secret-$RANDOM$RANDOM"
mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen $ROOT_IP:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers $N --seed 13 || exit 1
CS=$MLC_LAST_PORT
mlc_start_sim sfsim "$BIN/salesforce-sim" --listen $ROOT_IP:0 --client-id demo-client \
    --client-secret "$MLC_SALESFORCE_CLIENT_SECRET" || exit 1
SF=$MLC_LAST_PORT
# the sim writes its loopback URLs into the .ionapi file: host B reaches it at $ROOT_IP
ION=$MLC_TMP/ionapi/$TENANT.ionapi
jq --arg ip "$ROOT_IP" '.pu |= sub("127\\.0\\.0\\.1"; $ip) | .iu |= sub("127\\.0\\.0\\.1"; $ip)' \
    "$ION" >"$ION.tmp" && mv "$ION.tmp" "$ION"
check "the .ionapi file points host B at $ROOT_IP" grep -q "$ROOT_IP" "$ION"

check "host B reaches the simulators over its link" \
    ip netns exec "$NSB" curl -fsS -m 5 -o /dev/null "http://$ROOT_IP:$SF/__sim/stats"
check "host A cannot reach them (only B is linked to the root namespace)" \
    bash -c "! ip netns exec '$NSA' curl -fsS -m 2 -o /dev/null 'http://$ROOT_IP:$SF/__sim/stats' 2>/dev/null"
pair () { "$BIN/mlc-ztool" keygen >"$MLC_TMP/$1.pair"; }
pair server; pair extractor; pair loader
get () { sed -n "s/^$2=//p" "$MLC_TMP/$1.pair"; }
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" "$SF" $TENANT
jq --arg a "$A_IP" --arg root "$ROOT_IP" --arg s "$(get server public)" '
    .zmq.extract_endpoint = "tcp://\($a):15551" | .zmq.load_endpoint = "tcp://\($a):15552"
    | .zmq.events_endpoint = "tcp://\($a):15553" | .zmq.replay_endpoint = "tcp://\($a):15554"
    | .zmq.control_endpoint = "tcp://\($a):15555" | .zmq.confirm_endpoint = "tcp://\($a):15556"
    | .zmq.curve_server_key = $s | .http.insecure_hosts = $root
    | .salesforce.url = "http://\($root):" + (.salesforce.url | split(":") | last)' \
    "$CFG.base" >"$CFG"
CLIENTS="$(get server public),$(get extractor public),$(get loader public)"
MLC_ZMQ_CURVE_SECRET_KEY=$(get server secret) MLC_ZMQ_CURVE_CLIENTS=$CLIENTS \
    mlc_start replayer ip netns exec "$NSA" "$BIN/mlc-replayer" --config "$CFG" run
MLC_ZMQ_CURVE_SECRET_KEY=$(get server secret) MLC_ZMQ_CURVE_CLIENTS=$CLIENTS \
    mlc_start transformer ip netns exec "$NSA" "$BIN/mlc-transformer" --config "$CFG"
MLC_ZMQ_CURVE_SECRET_KEY=$(get loader secret) \
    mlc_start loader ip netns exec "$NSB" "$BIN/mlc-loader" --config "$CFG"
extract () {
    MLC_ZMQ_CURVE_SECRET_KEY=$(get extractor secret) timeout 60 \
        ip netns exec "$NSB" "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1
}
accounts_are () { test "$(mlc_sf_stats_at "$ROOT_IP" "$SF" '.records.Account // 0')" -eq "$1"; }
mlc_sf_stats_at () { curl -fsS "http://$1:$2/__sim/stats" | jq -r "$3"; }
check "host B: the extractor polls over the link (CURVE client of host A)" extract
check "every supplier reaches Salesforce through both hosts" mlc_wait_for 60 accounts_are $N
check "the transformer on host A binds its TCP endpoints" grep -q "extract=tcp://$A_IP:15551" "$MLC_TMP/transformer.log"
check "no connection was denied by ZAP" bash -c "! grep -q ZMQ_AUTH_DENIED '$MLC_TMP'/*.log"
check "a second poll over the link succeeds" extract
sleep 1
check "... still exactly $N Accounts" accounts_are $N
# a plaintext client on host B gets nothing through to the CURVE server on host A
ip netns exec "$NSB" timeout 20 "$BIN/mlc-ztool" push "tcp://$A_IP:15551" --garbage 5 \
    >"$MLC_TMP/plain-push.log" 2>&1
sleep 1
check "a plaintext client's messages never reach the transformer (no TRF_BAD_ENVELOPE)" \
    bash -c "! grep -q TRF_BAD_ENVELOPE '$MLC_TMP/transformer.log'"
keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
