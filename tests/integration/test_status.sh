#!/usr/bin/env bash
# mlc-status (issue 8, operator's view): after a small sync its numbers match the
# simulators' (records seen / changed by the extractor, synced in Salesforce, a rejected
# record as failed + one dead letter, nothing left in the backlog), --json parses with jq,
# the loader's Salesforce API usage and token requests come from its /metrics
# (--loader-metrics) and are "unknown" without it, a failing poll shows its error, and the
# CloudSuite token state per connection (cached, expires in, last renewal, last error).
# The extractor's progress during a full pass: EXT_PROGRESS log lines (counts, rate, an ETA
# only when the previous full pass's total is known) or, on a terminal (script(1)), a live line.
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=30
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_METRICS_LISTEN=127.0.0.1:0

mlc_start_sims $TENANT --seed-suppliers $N --seed 5 || exit 1
mlc_start_pipeline "$CFG"
extract_once () { "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1; }
status () { "$BIN/mlc-status" --config "$CFG" "$@"; }
# vendor JQ: a field of the vendor entity of the tenant in `mlc-status --json`
vendor () {
    status --json | jq -r --arg t $TENANT \
        ".connections[] | select(.tenant == \$t) | .entities[] | select(.entity == \"vendor\") | $1"
}
accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }

check "status before any poll: exits 0 and says nothing was polled" \
    bash -c "'$BIN/mlc-status' --config '$CFG' | grep -q 'nothing polled yet'"

# The first poll is a backfill: pages of 10, an EXT_PROGRESS line per page (not a terminal).
check "first poll: extractor --once succeeds" \
    env MLC_CLOUDSUITE_PAGE_SIZE=10 MLC_CLOUDSUITE_PROGRESS_INTERVAL_S=0 \
    "$BIN/mlc-extractor" --config "$CFG" --once >>"$MLC_TMP/extractor.log" 2>&1
check "backfill not on a terminal: EXT_PROGRESS lines with counts and rate, no invented ETA" \
    grep -q 'event=EXT_PROGRESS tenant=ACME_PRD entity=vendor read=10 .*/s, ETA unknown' "$MLC_TMP/extractor.log"
synced_all () { [ "$(vendor .synced)" = "$(accounts)" ] && [ "$(accounts)" -eq $N ]; }
check "synced equals the Accounts in salesforce-sim ($N)" mlc_wait_for 60 synced_all
check "--json parses with jq" bash -c "'$BIN/mlc-status' --config '$CFG' --json | jq -e .connections >/dev/null"
check "last poll succeeded" test "$(vendor .last_poll.ok)" = true
check "records seen by the last poll = suppliers in cloudsuite-sim" \
    test "$(vendor .last_poll.seen)" -eq "$(mlc_cs_fetch "$CS" $TENANT SLVendors | jq length)"
check "records changed by the first poll = $N" test "$(vendor .last_poll.changed)" -eq $N
check "a watermark is shown" bash -c "[ -n \"\$1\" ] && [ \"\$1\" != null ]" _ "$(vendor .watermark)"
check "no failures, backlog or dead letters" \
    test "$(vendor '[.failed, .pending, .in_flight, .dead_letters] | add')" -eq 0
# The CloudSuite token state of the connection (never the token itself).
token () { status --json | jq -r --arg t $TENANT ".connections[] | select(.tenant == \$t) | .token | $1"; }
check "token state: cached, expires in 1..7200 s, one request, renewed (obtained) at a known time" \
    bash -c "[ \"\$1\" = true ] && [ \"\$2\" -gt 0 ] && [ \"\$2\" -le 7200 ] && [ \"\$3\" -eq 1 ] && [ \"\$4\" = number ]" _ \
    "$(token .cached)" "$(token .expires_in_s)" "$(token .requests)" "$(token '.last_renewal | type')"
check "token state: only these fields (no token)" test "$(token 'keys | join(",")')" = \
    "at,cached,expires_at,expires_in_s,last_error,last_error_at,last_renewal,renewals,requests"
check "the human view shows the token state" \
    bash -c "'$BIN/mlc-status' --config '$CFG' | grep -qE '^CloudSuite token of $TENANT: cached, expires in [0-9]+ s; last renewal 20[0-9-]+ [0-9:]+; token requests 1, renewals 0'"

check "second poll: extractor --once succeeds" extract_once
check "second poll: nothing changed; polls = 2; cumulative seen = $N + this poll's seen" \
    bash -c "[ \"\$1\" -eq 0 ] && [ \"\$2\" -eq \$(( $N + \$3 )) ] && [ \"\$4\" -eq 2 ]" _ \
    "$(vendor .last_poll.changed)" "$(vendor .last_poll.total_seen)" "$(vendor .last_poll.seen)" \
    "$(vendor .last_poll.polls)"

# A record Salesforce rejects: failed + one open dead letter.
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" -d '{"Account":{"Phone":{"length":20}}}' >/dev/null
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
    -d '{"VendNum":"V900001","Name":"Too Long Phone Inc","Phone":"+1 555 0100 0100 0100 0100 0199"}' >/dev/null
check "third poll: extractor --once succeeds" extract_once
one_dead () { [ "$(vendor .dead_letters)" -eq 1 ] && [ "$(vendor .failed)" -eq 1 ]; }
check "a rejected record counts as failed with one dead letter" mlc_wait_for 30 one_dead
check "synced still equals the Accounts in salesforce-sim" test "$(vendor .synced)" -eq "$(accounts)"

# A full pass knows the previous pass's total: the progress shows an estimate of the time left.
check "full pass: extractor --once --full succeeds" \
    env MLC_CLOUDSUITE_PAGE_SIZE=10 MLC_CLOUDSUITE_PROGRESS_INTERVAL_S=0 \
    "$BIN/mlc-extractor" --config "$CFG" --once --full >"$MLC_TMP/full.log" 2>&1
check "full pass: EXT_PROGRESS gives the ETA from the previous full pass ($N records)" \
    grep -q "entity=vendor read=20 .*of ~$N, ETA [0-9]*:[0-9][0-9]:[0-9][0-9]" "$MLC_TMP/full.log"
if command -v script >/dev/null; then
    script -qec "env MLC_CLOUDSUITE_PAGE_SIZE=10 '$BIN/mlc-extractor' --config '$CFG' --once --full" \
        /dev/null >"$MLC_TMP/tty.log" 2>&1
    check "on a terminal: a live line per entity ending with the total and the time taken" \
        grep -aq "ACME_PRD vendor: $((N + 1)) read, 0 changed, .*/s, done in " "$MLC_TMP/tty.log"
    check "on a terminal: no EXT_PROGRESS log lines" bash -c "! grep -aq EXT_PROGRESS '$MLC_TMP/tty.log'"
else
    echo "ok - # SKIP on a terminal: script(1) is not installed"
fi

check "the human table names the tenant, the entity and the result" \
    bash -c "'$BIN/mlc-status' --config '$CFG' | grep -E '^$TENANT +vendor .* ok ' >/dev/null"
check "without --loader-metrics the Salesforce usage is unknown" \
    bash -c "'$BIN/mlc-status' --config '$CFG' | grep -q 'Salesforce API usage: unknown'"

# The loader's /metrics: API usage and token requests per org.
LPORT=""
for _ in $(seq 100); do
    line=$(grep -m1 -o 'event=MLC_METRICS listen=127.0.0.1:[0-9]*' "$MLC_TMP/loader.log" 2>/dev/null)
    if [ -n "$line" ]; then LPORT=${line##*:}; break; fi
    sleep 0.2
done
check "the loader logs its metrics address" test -n "$LPORT"
MURL="http://127.0.0.1:$LPORT/metrics"
check "--loader-metrics: token requests per org match salesforce-sim" \
    test "$(status --json --loader-metrics "$MURL" | jq '[.salesforce.orgs[].token_requests] | add')" \
    -eq "$(mlc_sf_stats "$SF" .token_requests)"
check "--loader-metrics: the API usage is a number" \
    bash -c "'$BIN/mlc-status' --config '$CFG' --json --loader-metrics '$MURL' | jq -e '[.salesforce.orgs[].api_usage] | all(type == \"number\")' >/dev/null"
check "--loader-metrics: the human view shows the usage" \
    bash -c "'$BIN/mlc-status' --config '$CFG' --loader-metrics '$MURL' | grep -q 'API usage [0-9]* of'"
check "an unreachable metrics URL is reported, not fatal" \
    bash -c "'$BIN/mlc-status' --config '$CFG' --json --loader-metrics http://127.0.0.1:1/metrics | jq -e '.salesforce.error | test(\"127.0.0.1:1\")' >/dev/null"

# A failing poll shows its error. The .ionapi file then names port 1, where nothing listens:
# cloudsuite-sim's own port, once it is free, may be taken by a test running alongside.
kill -TERM $CS_PID
wait $CS_PID 2>/dev/null
sed -i "s#127.0.0.1:$CS#127.0.0.1:1#g" "$MLC_TMP/ionapi/$TENANT.ionapi"
check "with cloudsuite-sim down, extractor --once fails" bash -c "! '$BIN/mlc-extractor' --config '$CFG' --once >>'$MLC_TMP/extractor.log' 2>&1"
check "--json: the last poll failed and carries its error" \
    bash -c "[ \"\$1\" = false ] && [ -n \"\$2\" ]" _ "$(vendor .last_poll.ok)" "$(vendor .last_poll.error)"
check "the human table shows FAILED and the error" \
    bash -c "'$BIN/mlc-status' --config '$CFG' >'$MLC_TMP/st.txt' && grep -q ' FAILED ' '$MLC_TMP/st.txt' && grep -q 'last poll error: ' '$MLC_TMP/st.txt'"
check "the failed poll carries the fix in words (unreachable endpoint)" \
    bash -c "[[ \"\$1\" == *unreachable* ]] && grep -q 'fix: the CloudSuite endpoint is unreachable' '$MLC_TMP/st.txt'" _ "$(vendor .last_poll.fix)"
check "the watermark survives a failed poll" bash -c "[ \"\$1\" != null ]" _ "$(vendor .watermark)"
check "token state after a refused token request: not cached, the last error kept" \
    bash -c "[ \"\$1\" = false ] && [[ \"\$2\" == *token* ]]" _ "$(token .cached)" "$(token .last_error)"
check "... and the human view shows it" \
    bash -c "'$BIN/mlc-status' --config '$CFG' | grep -qE '^CloudSuite token of $TENANT: not cached;' &&
             '$BIN/mlc-status' --config '$CFG' | grep -q '^    last token error (20'"
check "a missing config file: exit 1 with a message" \
    bash -c "'$BIN/mlc-status' --config '$MLC_TMP/nope.json' 2>&1 >/dev/null | grep -q nope.json; [ \${PIPESTATUS[0]} -eq 1 ]"
check "no secret in the status output" \
    bash -c "! '$BIN/mlc-status' --config '$CFG' --json --loader-metrics '$MURL' | grep -qF '$MLC_SALESFORCE_CLIENT_SECRET'"

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "every process exited cleanly with no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
