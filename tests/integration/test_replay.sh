#!/usr/bin/env bash
# Dead-letter round trip: salesforce-sim's org refuses the suppliers' phone numbers (Phone
# made shorter than they are), so they become dead letters with STRING_TOO_LONG; the cause
# is fixed (the field relaxed), `mlc-replayer replay --all` re-feeds them: they land with the
# right values, each dead letter is resolved, and `mlc-replayer history` shows both attempts
# (failed, then loaded) in order. Then a full disk: the replayer's data dir on a small
# tmpfs fills up; it must stop with a clear error (skipped when mount is refused).
set -u
cd "$(dirname "$0")/../.."
. scripts/lib.sh
N=40
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT
export MLC_SALESFORCE_CLIENT_SECRET="it-secret-$RANDOM$RANDOM"
export MLC_REPLAYER_REDRIVE_BASE_S=0 # no automatic redrive: the operator replays

mlc_start_sims $TENANT --seed-suppliers $N --seed 5 || exit 1
# five suppliers with a phone number longer than the org will allow
for i in 1 2 3 4 5; do
    curl -fsS -X POST "http://127.0.0.1:$CS/__sim/$TENANT/records/SLVendors" \
        -d "{\"VendNum\":\"V90000$i\",\"Name\":\"Long Phone $i Inc\",\"Phone\":\"+1 555 0100 0100 0100 0100 019$i\"}" >/dev/null
done
N=$(( N + 5 ))
mlc_cs_fetch "$CS" $TENANT SLVendors >"$MLC_TMP/vendors.json" || { echo "not ok - fetch"; exit 1; }
LIMIT=20
# suppliers whose phone is longer than the org allows
BAD=$(jq --argjson l $LIMIT '[.[] | select((.Phone // "") | length > $l)] | length' "$MLC_TMP/vendors.json")
GOOD=$(( N - BAD ))
echo "# $N suppliers, $BAD with a phone longer than $LIMIT"
check "the seeded data has suppliers on both sides of the limit" test "$BAD" -gt 0 -a "$GOOD" -gt 0

curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" \
    -d "{\"Account\":{\"Phone\":{\"length\":$LIMIT}}}" >/dev/null
mlc_start_pipeline "$CFG"
check "extractor --once succeeds" \
    bash -c "'$BIN/mlc-extractor' --config '$CFG' --once >>'$MLC_TMP/extractor.log' 2>&1"

rp () { "$BIN/mlc-replayer" --config "$CFG" "$@"; }
accounts () { mlc_sf_stats "$SF" '.records.Account // 0'; }
open_dead () { rp list --json 2>/dev/null | jq 'length'; }
dead_is () { test "$(open_dead)" = "$1"; }
check "every refused supplier is a dead letter ($BAD), the others are Accounts" \
    mlc_wait_for 60 bash -c "test \"\$('$BIN/mlc-replayer' --config '$CFG' list --json 2>/dev/null | jq length)\" = $BAD && test \"\$(curl -fsS http://127.0.0.1:$SF/__sim/stats | jq '.records.Account // 0')\" = $GOOD"
check "the dead letters say STRING_TOO_LONG" \
    test "$(rp list --json | jq '[.[] | select(.code == "STRING_TOO_LONG" or .error_code == "STRING_TOO_LONG")] | length')" = "$BAD"
KEY=$(rp list --json | jq -r '.[0] | "\(.tenant):\(.entity):\(.key)"')

# the cause is fixed; the operator replays everything
curl -fsS -X POST "http://127.0.0.1:$SF/__sim/schema" -d '{"Account":{"Phone":{"length":40}}}' >/dev/null
check "mlc-replayer replay --all is accepted" bash -c "'$BIN/mlc-replayer' --config '$CFG' replay --all >'$MLC_TMP/replay.out' 2>&1"
accounts_are () { test "$(accounts)" = "$1"; }
check "the replayed records land: one Account per supplier" mlc_wait_for 60 accounts_are $N
check "no dead letter is left open" mlc_wait_for 30 dead_is 0
match () {
    curl -fsS "http://127.0.0.1:$SF/__sim/records/Account" >"$MLC_TMP/accounts.json" || return 1
    jq -n --slurpfile v "$MLC_TMP/vendors.json" --slurpfile a "$MLC_TMP/accounts.json" \
        --arg t $TENANT '[$v[0], $a[0], $t]' | jq -f tests/integration/accounts_match_vendors.jq \
        >"$MLC_TMP/mismatch.json"
    [ "$(jq length "$MLC_TMP/mismatch.json")" -eq 0 ] || { head -c 2000 "$MLC_TMP/mismatch.json" >&2; return 1; }
}
check "Account values equal the supplier values (the long phones included), no duplicates" match
history_ok () {
    rp history "$KEY" --json >"$MLC_TMP/history.json" || return 1
    jq -e '[.[] | .out // .outcome | select(. == "failed" or . == "loaded")] as $o
           | ($o | index("failed")) != null and ($o | rindex("loaded")) != null
             and ($o | index("failed")) < ($o | rindex("loaded"))' "$MLC_TMP/history.json" >/dev/null
}
check "history of $KEY shows the failed attempt, then the loaded one" history_ok
check "the replayer counts the resolution" \
    test "$(rp stats --json | jq '.dl_resolved // .stats.dl_resolved // 0')" -ge "$BAD"
KEEP=1 mlc_cleanup
# ---- a full disk (issue 6): the replayer's data dir on a small tmpfs, failed events with
# big envelopes until it fills. The replayer must say so (RPL_STORE_ERROR naming the path,
# "No space left") and exit non-zero; what it committed before stays readable.
FD=$MLC_TMP/fulldisk
FDPID=""
fd_cleanup () {
    [ -n "$FDPID" ] && kill -KILL "$FDPID" 2>/dev/null
    mountpoint -q "$FD" 2>/dev/null && { umount "$FD" 2>/dev/null || umount -l "$FD"; }
}
trap 'fd_cleanup; mlc_cleanup' EXIT
mkdir -p "$FD"
if ! mount -t tmpfs -o size=12m tmpfs "$FD" 2>"$MLC_TMP/mount.err"; then
    echo "ok - full disk # SKIP mount -t tmpfs refused: $(head -c 200 "$MLC_TMP/mount.err")"
else
    cat >"$MLC_TMP/fd.json" <<JSON
{"data_dir": "$FD/data",
 "zmq": {"events_endpoint": "ipc://$MLC_TMP/fd-events.sock", "replay_endpoint": "ipc://$MLC_TMP/fd-replay.sock",
         "control_endpoint": "ipc://$MLC_TMP/fd-control.sock", "confirm_endpoint": "ipc://$MLC_TMP/fd-confirm.sock"}}
JSON
    # a failed event, msgpack written by hand: 11 members, the envelope a 300 KB bin of
    # random (incompressible) bytes
    fd_event () {
        local id=$1
        { printf '\x8b\xa1v\x01\xa5stage\xa4load\xa3out\xa6failed'
          printf "\\xa3eid\\x$(printf %x $((0xa0 + ${#id})))%s" "$id"
          printf '\xa6tenant\xa8ACME_PRD\xa6entity\xa6vendor\xa3key\xa2K1\xa4hash\xa0'
          printf '\xa7attempt\x01\xa2at\x05\xa3env\xc6\x00\x04\x93\xe0'
          head -c 300000 /dev/urandom; } >"$MLC_TMP/fd-event.bin"
    }
    mlc_start fdreplayer "$BIN/mlc-replayer" --config "$MLC_TMP/fd.json" run
    FDPID=$MLC_LAST_PID
    mlc_wait_for 20 test -S "$MLC_TMP/fd-events.sock"
    SENT=0
    for i in $(seq 1 40); do
        kill -0 "$FDPID" 2>/dev/null || break
        fd_event "fulldisk-$i"
        "$BIN/mlc-ztool" push "ipc://$MLC_TMP/fd-events.sock" --file "$MLC_TMP/fd-event.bin" \
            >/dev/null 2>&1 && SENT=$i
        sleep 0.2
    done
    fd_stopped () { ! kill -0 "$FDPID" 2>/dev/null; }
    check "the replayer stops when its disk is full (after $SENT events)" mlc_wait_for 30 fd_stopped
    wait "$FDPID"
    FDRC=$?
    FDPID=""
    check "it exits non-zero (status $FDRC)" test "$FDRC" -ne 0 -a "$FDRC" -lt 128
    check "it logs RPL_STORE_ERROR with the store path and \"No space left\"" \
        grep -qE "event=RPL_STORE_ERROR .*$FD/data/replayer.*No space left" "$MLC_TMP/fdreplayer.log"
    FDN=$("$BIN/mlc-replayer" --config "$MLC_TMP/fd.json" list --json 2>"$MLC_TMP/fd-list.err" | jq length)
    check "the dead letters committed before stay readable (${FDN:-none} of $SENT)" \
        test "${FDN:-0}" -ge 1 -a "${FDN:-0}" -lt "$SENT"
    fd_cleanup
fi
check "every process exited cleanly with no sanitizer report" mlc_check_logs
exit $TAP_FAILED
