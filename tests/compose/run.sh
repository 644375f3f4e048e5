#!/usr/bin/env bash
# make test-compose: the deployment for real. Builds the ml-connector image with podman (the
# base image made with debootstrap when it is missing), runs compose.yaml with podman-compose
# and the demo simulators, and checks that scaling and killing loaders during a sync leaves
# Salesforce with every supplier exactly once. Prints TAP lines and a closing
# "N passed, M failed" line; exits non-zero on any failure. Always tears the project down.
#
# Phases:
#   1. up with 3 loaders, 20,000 suppliers, a Salesforce latency so the sync lasts a while;
#      during the sync: scale to 5 loaders, kill one loader (podman kill), scale back to 2.
#      Afterwards: every supplier exactly once with its values: records the killed loader
#      held come back through the extractor's lease (docs/delivery.md).
#   2. a full sync (the extractor's state volume is reset, so it re-emits every supplier):
#      Salesforce must then hold every supplier exactly once with the right values.
#   3. restart policy: a loader process that dies (SIGKILL from the host) is restarted.
#
# Environment: COMPOSE_SUPPLIERS (20000), COMPOSE_SF_LATENCY_MS (300), KEEP=1 keeps the logs
# (always kept on failure).
set -u
cd "$(dirname "$0")/../.."
export CONTAINERS_CONF="$PWD/containers.conf"
N=${COMPOSE_SUPPLIERS:-20000}
P=mlcct$$
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/mlc-compose.XXXXXX")
chmod 0700 "$LOGDIR"
. tests/compose/lib.sh

PASS=0 FAIL=0
ok () { echo "ok - $1"; PASS=$((PASS + 1)); }
not_ok () { echo "not ok - $1"; FAIL=$((FAIL + 1)); }
check () {
    local desc=$1; shift
    if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
T0=$(date +%s)
elapsed () { echo $(( $(date +%s) - T0 )); }

finish () {
    local rc=$?
    cc_save_logs
    cc_teardown
    [ $FAIL -gt 0 ] && rc=1
    echo "# compose test took $(elapsed) s"
    echo "$PASS passed, $FAIL failed"
    if [ $rc -ne 0 ] || [ "${KEEP:-0}" = 1 ]; then
        echo "# logs kept in $LOGDIR"
    else
        rm -rf "$LOGDIR"
    fi
    exit $rc
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- preparation
check "podman, podman-compose, runc, debootstrap, curl and jq are installed" cc_install_tools
check "base image $MLC_BASE_IMAGE is present (debootstrap + podman import when missing)" \
    cc_base_image
t=$(date +%s)
check "the image builds from the Dockerfile with podman (--pull=never)" cc_build
say "image build: $(( $(date +%s) - t )) s"
[ $FAIL -eq 0 ] || exit 1

uid=$(podman run --rm --entrypoint id "$MLC_IMAGE" -u 2>/dev/null)
check "the image runs as a non-root user (uid $uid)" test -n "$uid" -a "$uid" != 0
libs_ok () {
    local b
    for b in mlc-extractor mlc-transformer mlc-loader mlc-replayer cloudsuite-sim salesforce-sim; do
        podman run --rm --entrypoint ldd "$MLC_IMAGE" "/usr/local/bin/$b" | grep -q 'not found' &&
            { echo "# $b: missing libraries" >&2; return 1; }
    done
    return 0
}
check "every binary in the image finds its runtime libraries" libs_ok

# ---- the stack: demo profile (podman-compose 1.0 starts every service; Docker needs --profile demo)
SECRET="sf-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$SECRET" >"$LOGDIR/sf_client_secret"
chmod 0644 "$LOGDIR/sf_client_secret" # the containers' user must read the bind-mounted secret
# The shipped config/compose.json, with small batches, one request in flight per loader and
# little held per loader, so the sync lasts long enough to scale during it and work spreads
# over the loaders that join (mounted through CONNECTOR_CONFIG, as an operator would).
jq '.zmq.hwm = 100 | .salesforce.batch_size = 50 | .salesforce.max_in_flight = 1
    | .salesforce.max_held = 200' config/compose.json >"$LOGDIR/config.json" || exit 1
chmod 0644 "$LOGDIR/config.json"
export MLC_IMAGE SF_CLIENT_SECRET_FILE="$LOGDIR/sf_client_secret" CONNECTOR_CONFIG="$LOGDIR/config.json"
export DEMO_SUPPLIERS=$N DEMO_SF_LATENCY_MS=${COMPOSE_SF_LATENCY_MS:-300}
export SF_SIM_PORT CS_SIM_PORT
SF_SIM_PORT=$(cc_free_port)
CS_SIM_PORT=$(cc_free_port)

t=$(date +%s)
up3 () { LOADERS=3 pc up -d --no-build; }
check "podman-compose up: the stack starts with 3 loaders" up3
check "3 loader containers run" test "$(cc_count loader)" -eq 3
sf_up () { sf_stats '.api_calls' >/dev/null; }
check "salesforce-sim answers on its published loopback port" wait_for 60 sf_up
started () { [ "$(accounts)" -gt 0 ]; }
check "the sync starts: Accounts arrive in Salesforce" wait_for 120 started
say "stack up and first Accounts after $(( $(date +%s) - t )) s"

# ---- disruption during the sync
# at_least K: K Accounts (or all of them) are in Salesforce
at_least () { local k=$1; [ "$k" -gt "$N" ] && k=$N; [ "$(accounts)" -ge "$k" ]; }
before=$(accounts)
check "scale to 5 loaders during the sync" cc_scale_loaders 5
check "5 loader containers run" test "$(cc_count loader)" -eq 5
say "Accounts: $before before scaling up, $(accounts) after"
wait_for 60 at_least $(( $(accounts) + N / 20 ))
victim=$(cc_containers loader | sed -n 2p)
killed_at=$(accounts)
kill_victim () { podman kill "$victim" >>"$LOGDIR/compose.log" 2>&1; }
check "kill loader $victim mid-sync (podman kill)" kill_victim
say "killed $victim with $killed_at of $N Accounts in Salesforce"
podman logs "$victim" >"$LOGDIR/$victim.killed.log" 2>&1
wait_for 60 at_least $(( killed_at + N / 20 ))
mid=$(accounts)
check "scale back to 2 loaders during the sync ($mid of $N Accounts so far)" cc_scale_loaders 2
check "2 loader containers run (the killed one started again by up)" test "$(cc_count loader)" -eq 2
mid_sync () { [ "$mid" -lt "$N" ]; }
check "the disruptions happened mid-sync (Accounts before the scale-down: $mid < $N)" mid_sync

# settled: all N Accounts and no call for 3 s. Records the killed loader held come back when
# the extractor's lease runs out (cloudsuite.lease_s 120 s after their emission, once the
# output has been quiet for lease_quiet_s 30 s), so the bound is the sync plus a lease or two.
check "phase 1 settles: every supplier arrives (leases re-emit what the killed loader held)" \
    wait_settled 420 200 "$N"
say "phase 1 settled after $(elapsed) s: $(accounts) of $N Accounts"

# ---- checks: exactly once
VENDORS=$LOGDIR/vendors.json ACCOUNTS=$LOGDIR/accounts.json
check "the suppliers can be read back from cloudsuite-sim" cs_vendors "$VENDORS"
check "cloudsuite-sim holds $N suppliers" test "$(jq length "$VENDORS")" -eq "$N"
read_accounts () { curl -fsS "http://127.0.0.1:$SF_SIM_PORT/__sim/records/Account" >"$ACCOUNTS"; }
mismatches () {
    jq -n --slurpfile v "$VENDORS" --slurpfile a "$ACCOUNTS" --arg t ACME_PRD '[$v[0], $a[0], $t]' |
        jq -f tests/integration/accounts_match_vendors.jq >"$LOGDIR/mismatch.json"
}
# missing_keys: external IDs of suppliers without an Account, one per line
missing_keys () {
    jq -rn --slurpfile v "$VENDORS" --slurpfile a "$ACCOUNTS" \
        '($a[0] | map({key: .CloudSuite_Key__c, value: 1}) | from_entries) as $have
         | $v[0][] | "ACME_PRD:vendor:" + .VendNum | select($have[.] == null)'
}
no_duplicates () {
    [ "$(jq '[.[].CloudSuite_Key__c] | length' "$ACCOUNTS")" -eq \
      "$(jq '[.[].CloudSuite_Key__c] | unique | length' "$ACCOUNTS")" ] &&
    [ "$(jq '[.[] | select(.CloudSuite_Key__c == null)] | length' "$ACCOUNTS")" -eq 0 ]
}
values_right () {
    # every mismatch other than a missing Account (or the count that follows from it)
    [ "$(jq '[.[] | select(startswith("missing Account") or startswith("account count") | not)] | length' \
        "$LOGDIR/mismatch.json")" -eq 0 ]
}
read_accounts && mismatches
check "phase 1: no supplier is more than one Account" no_duplicates
check "phase 1: every Account carries its supplier's values" values_right
missing_keys >"$LOGDIR/missing-phase1.txt"
lost=$(grep -c . "$LOGDIR/missing-phase1.txt")
say "phase 1: $(jq length "$ACCOUNTS") Accounts for $N suppliers; $lost missing (list: missing-phase1.txt)"
if [ "$lost" -gt 0 ]; then
    say "first missing: $(head -10 "$LOGDIR/missing-phase1.txt" | tr '\n' ' ')"
    say "killed loader's log: $(grep -c . "$LOGDIR/$victim.killed.log") lines, last: $(tail -1 "$LOGDIR/$victim.killed.log" | cut -c1-160)"
fi
check "phase 1: every supplier is in Salesforce after scaling and a killed loader ($lost missing)" \
    test "$lost" -eq 0

# ---- phase 2: a full sync brings back what was lost
ext=$(cc_one extractor-acme)
# Salesforce at full speed for the re-sync (the latency only made room for the disruptions)
curl -fsS -X POST "http://127.0.0.1:$SF_SIM_PORT/__sim/faults" -d '{"latency_ms": 0}' >/dev/null
calls_before=$(sf_stats '.api_calls')
full_sync () {
    podman stop -t 10 "$ext" >>"$LOGDIR/compose.log" 2>&1 &&
    podman logs "$ext" >"$LOGDIR/$ext.phase1.log" 2>&1 &&
    podman rm "$ext" >>"$LOGDIR/compose.log" 2>&1 &&
    podman volume rm "${P}_extractor-acme-data" >>"$LOGDIR/compose.log" 2>&1 &&
    LOADERS=2 pc up -d --no-build extractor-acme
}
check "phase 2: the extractor restarts with empty state (a full sync)" full_sync
active () { [ "$(sf_stats '.api_calls')" -gt "$calls_before" ]; }
wait_for 120 active
check "phase 2 settles" wait_settled 300 20 "$N"
say "phase 2 settled after $(elapsed) s: $(accounts) of $N Accounts"
read_accounts && mismatches
check "phase 2: Salesforce holds exactly $N Accounts" test "$(jq length "$ACCOUNTS")" -eq "$N"
check "phase 2: salesforce-sim's stats agree ($N Accounts)" test "$(accounts)" -eq "$N"
check "phase 2: every supplier is exactly one Account with the right values" \
    test "$(jq length "$LOGDIR/mismatch.json")" -eq 0
[ "$(jq length "$LOGDIR/mismatch.json")" -eq 0 ] ||
    say "mismatches: $(jq -r '.[:10] | join("; ")' "$LOGDIR/mismatch.json")"

# ---- phase 3: restart policy, secrets
survivor=$(cc_one loader)
pid=$(podman inspect -f '{{.State.Pid}}' "$survivor")
restarts=$(podman inspect -f '{{.RestartCount}}' "$survivor")
kill -KILL "$pid"
restarted () {
    [ "$(podman inspect -f '{{.RestartCount}}' "$survivor")" -gt "$restarts" ] &&
    [ "$(podman inspect -f '{{.State.Running}}' "$survivor")" = true ]
}
check "a loader whose process dies is restarted (restart: unless-stopped)" wait_for 60 restarted

cc_save_logs
no_secret () { ! grep -rlF -- "$SECRET" "$LOGDIR"/*.log; }
check "the Salesforce client secret appears in no container log" no_secret
