#!/usr/bin/env bash
# Extractor backfill on real parts: cloudsuite-sim with more than 20,000 records across the
# four entities, tokens that live 5 seconds, 20% of calls answered 429 and every token
# revoked in the middle; one extractor --once; a sink (mlc-ztool) in place of the
# transformer, so nobody confirms and the window of records in flight switches off. Every record arrives exactly once with the right key, nothing escapes as an
# error, and tokens are reused (at most one grant per half token lifetime).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
TENANT=ACME_PRD
TTL=5
mlc_tmpdir
trap 'mlc_cleanup' EXIT

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers 5000 --seed-customers 5000 \
    --seed-invoices 6000 --seed-pos 4000 --seed 11 --token-ttl $TTL --fault-429 0.2 || exit 1
CS=$MLC_LAST_PORT
CFG=$MLC_TMP/config.json
mlc_write_config "$CFG.base" "$CS" 1 $TENANT
jq '.cloudsuite.customer.enabled = true | .cloudsuite.invoice.enabled = true | .cloudsuite.po.enabled = true' "$CFG.base" >"$CFG"
records=$(mlc_cs_stats "$CS" ".tenants.$TENANT.records")
total=$(jq '[.[]] | add' <<<"$records")
check "the simulator holds at least 20,000 records across the four IDOs ($total)" test "$total" -ge 20000

stdbuf -oL "$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count "$total" --timeout 60 \
    >"$MLC_TMP/sink.out" 2>"$MLC_TMP/sink.log" &
SINK=$!
MLC_PIDS+=("$SINK")
mlc_wait_for 10 grep -q ready "$MLC_TMP/sink.out"
lines () { grep -c '"tenant"' "$MLC_TMP/sink.out"; }
jqt () { jq "$@" >/dev/null; }

start=$(date +%s)
# nobody confirms here (no replayer): the window of records in flight (4,000) fills, and
# after lease_quiet_s without a confirmation it is switched off, so the backfill goes on
MLC_CLOUDSUITE_LEASE_QUIET_S=2 "$BIN/mlc-extractor" --config "$CFG" --once \
    >"$MLC_TMP/extractor.log" 2>&1 &
EXT=$!
MLC_PIDS+=("$EXT")
# every token is revoked while the backfill runs: the next call gets a 401 and a new token
mlc_wait_for 60 bash -c "[ \$(grep -c '\"tenant\"' '$MLC_TMP/sink.out') -ge 1000 ]"
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/expire-tokens" >/dev/null
# cloudsuite.nice (10): the process and every thread it started (ZeroMQ, RocksDB, HTTP)
nices=$(ps -L -o ni= -p "$EXT" | sort -u | tr -d ' ' | tr '\n' ' ')
check "the extractor and all its threads run at nice 10 (got: $nices)" test "$nices" = "10 "
wait $EXT
rc=$?
elapsed=$(( $(date +%s) - start + 1 ))
check "extractor --once exits 0 through 429s, short-lived tokens and a revocation" test $rc -eq 0
wait $SINK
check "the sink received exactly $total envelopes" test "$(lines)" -eq "$total"
check "without confirmations the window stalled once, at 4,000 records in flight, and went off" \
    test "$(grep -c 'EXT_FLOW_STALL.*in_flight=4[0-9][0-9][0-9] window=4000' "$MLC_TMP/extractor.log")" -eq 1

jq -r 'select(.tenant) | [.tenant, .entity, .key] | join("|")' "$MLC_TMP/sink.out" | sort \
    >"$MLC_TMP/got.keys"
check "every record exactly once (unique tenant/entity/key = $total)" \
    test "$(sort -u "$MLC_TMP/got.keys" | wc -l)" -eq "$total" -a "$(wc -l <"$MLC_TMP/got.keys")" -eq "$total"
per_entity () { jq -r --arg e "$1" 'select(.entity == $e) | .key' "$MLC_TMP/sink.out" | wc -l; }
check "vendors: as many as SLVendors rows" test "$(per_entity vendor)" -eq "$(jq .SLVendors <<<"$records")"
check "customers: as many as SLCustomers rows (bill-to and ship-to)" \
    test "$(per_entity customer)" -eq "$(jq .SLCustomers <<<"$records")"
check "invoices: as many as SLArinvs rows" test "$(per_entity invoice)" -eq "$(jq .SLArinvs <<<"$records")"
check "purchase orders: as many as SLPos rows" test "$(per_entity po)" -eq "$(jq .SLPos <<<"$records")"

# The keys are exactly the simulator's keys (faults off to read it directly).
curl -fsS -X POST "http://127.0.0.1:$CS/__sim/faults" -d '{"fault_429":0}' >/dev/null
{
    mlc_cs_fetch "$CS" $TENANT SLVendors VendNum | jq -r --arg t $TENANT '.[] | "\($t)|vendor|\(.VendNum)"'
    mlc_cs_fetch "$CS" $TENANT SLCustomers CustNum,CustSeq |
        jq -r --arg t $TENANT '.[] | "\($t)|customer|\(.CustNum)/\(.CustSeq)"'
    mlc_cs_fetch "$CS" $TENANT SLArinvs InvNum,InvSeq |
        jq -r --arg t $TENANT '.[] | "\($t)|invoice|\(.InvNum)/\(.InvSeq)"'
    mlc_cs_fetch "$CS" $TENANT SLPos PoNum | jq -r --arg t $TENANT '.[] | "\($t)|po|\(.PoNum)"'
} | sort >"$MLC_TMP/want.keys"
check "the emitted keys are exactly the simulator's keys" cmp -s "$MLC_TMP/want.keys" "$MLC_TMP/got.keys"
check "customer keys are CustNum/CustSeq, with ship-tos (CustSeq > 0)" jqt -se '
    map(select(.entity == "customer")) | (all(.key == "\(.src.CustNum)/\(.src.CustSeq)"))
    and (map(select(.src.CustSeq != "0")) | length > 0)' "$MLC_TMP/sink.out"
check "every entity carries its configured properties" jqt -se '
    (map(select(.entity == "vendor"))[0].src | has("VadCity") and has("RecordDate"))
    and (map(select(.entity == "customer"))[0].src | has("CustType") and has("CreditLimit"))
    and (map(select(.entity == "invoice"))[0].src | has("PaidInFull") and has("AmountPaid"))
    and (map(select(.entity == "po"))[0].src | has("VendNum") and has("Stat"))' "$MLC_TMP/sink.out"
check "every envelope has a 32-hex content hash and attempt 1" \
    jqt -se 'map(select(.tenant)) | all((.hash | test("^[0-9a-f]{32}$")) and .attempt == 1)' "$MLC_TMP/sink.out"

stats=$(mlc_cs_stats "$CS" ".tenants.$TENANT")
check "faults really happened (throttled > 0) and were retried" \
    bash -c "[ $(jq .throttled <<<"$stats") -gt 0 ] && grep -q EXT_RETRY '$MLC_TMP/extractor.log'"
check "the revoked token was renewed after a 401" grep -q 'EXT_TOKEN_REJECTED.*status=401' "$MLC_TMP/extractor.log"
check "no poll failed and nothing fatal" bash -c "! grep -qE 'EXT_POLL_FAILED|EXT_FATAL|level=error' '$MLC_TMP/extractor.log'"
grants=$(grep -c 'event=EXT_TOKEN ' "$MLC_TMP/extractor.log")
# one grant per half token lifetime at most (the margin is capped at half the TTL), plus the
# first and the one after the revocation: at the default 7200 s TTL that is one an hour
check "token grants ($grants in ${elapsed}s with a ${TTL}s TTL) stay at one per half lifetime" \
    test "$grants" -le $(( elapsed * 2 / TTL + 3 ))
check "token requests ($(jq .token_requests <<<"$stats")) are far fewer than data requests ($(jq .data_requests <<<"$stats"))" \
    test $(( $(jq .token_requests <<<"$stats") * 4 )) -lt "$(jq .data_requests <<<"$stats")"

# A second --once right away finds nothing new: the state remembered every record.
"$BIN/mlc-ztool" sink "ipc://$MLC_TMP/extract.sock" --count 1 --timeout 3 >"$MLC_TMP/sink2.out" 2>&1 &
SINK=$!
MLC_PIDS+=("$SINK")
check "a second --once succeeds" "$BIN/mlc-extractor" --config "$CFG" --once 2>>"$MLC_TMP/extractor.log"
wait $SINK
check "... and emits nothing" test "$(grep -c '"tenant"' "$MLC_TMP/sink2.out")" -eq 0

keep=${KEEP:-0}
KEEP=1 mlc_cleanup
check "no sanitizer report" mlc_check_logs
[ "$keep" = 1 ] || rm -rf "$MLC_TMP"
exit $TAP_FAILED
