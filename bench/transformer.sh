#!/usr/bin/env bash
# Transformer throughput (records/s on one core), with and without the match memory.
# Records come from cloudsuite-sim (--seed 42) as the extractor fetches them; each run
# pushes them into the transformer's real loop over ZeroMQ (`mlc-transformer --bench`:
# a feeder thread plays the extractor, a sink thread the loaders and the replayer): recv,
# msgpack decode, mapping, memory (RocksDB on disk in a fresh directory), msgpack encode,
# the PUSH to the loaders and the event. Records/s are per second of CPU time of the
# loop's thread. Pass 1 sees every key for the first time (an initial load); later passes
# re-send known records. Sizes: SUPPLIERS CUSTOMERS INVOICES POS; PASSES (default 2).
# Separate from bench/run.sh (the whole pipeline).
set -u
cd "$(dirname "$0")/.."
: "${BIN:=build/bin}"
. scripts/lib.sh
SUPPLIERS=${SUPPLIERS:-20000}
CUSTOMERS=${CUSTOMERS:-40000}
INVOICES=${INVOICES:-60000}
POS=${POS:-30000}
PASSES=${PASSES:-2}
TENANT=ACME_PRD
mlc_tmpdir
trap 'mlc_cleanup' EXIT

mlc_start_sim cssim "$BIN/cloudsuite-sim" --listen 127.0.0.1:0 --tenant $TENANT \
    --ionapi-dir "$MLC_TMP/ionapi" --seed-suppliers "$SUPPLIERS" --seed-customers "$CUSTOMERS" \
    --seed-invoices "$INVOICES" --seed-pos "$POS" --seed 42 || exit 1
CS=$MLC_LAST_PORT
for ido in SLVendors SLCustomers SLArinvs SLPos; do
    mlc_cs_fetch "$CS" $TENANT $ido >"$MLC_TMP/$ido.json" || { echo "fetch $ido failed" >&2; exit 1; }
done
INPUTS=(vendor="$MLC_TMP/SLVendors.json" customer="$MLC_TMP/SLCustomers.json"
        invoice="$MLC_TMP/SLArinvs.json" po="$MLC_TMP/SLPos.json")

echo "== transformer throughput, one core ($(nproc) cores here; $(uname -m)); $SUPPLIERS suppliers," \
     "$CUSTOMERS customers, $INVOICES invoices, $POS POs (seed 42)"
results=()
run () {
    local label=$1; shift
    echo "-- $label"
    "$BIN/mlc-transformer" --bench --tenant $TENANT --passes "$PASSES" "$@" "${INPUTS[@]}" \
        | tee "$MLC_TMP/run.txt" || { echo "bench failed" >&2; exit 1; }
    local first rest
    first=$(grep -oE '^pass 1 .* ([0-9]+) records/s on one core' "$MLC_TMP/run.txt" | grep -oE '[0-9]+ records/s on one core' | cut -d' ' -f1)
    rest=$(grep -E '^pass [2-9]' "$MLC_TMP/run.txt" | grep -oE '[0-9]+ records/s on one core' | cut -d' ' -f1 | tail -1)
    results+=("$(printf '%-40s %10s %12s' "$label" "$first" "${rest:--}")")
}
run "default mapping, no memory" --mapping config/mapping.json --no-memory
run "default mapping, memory (RocksDB)" --mapping config/mapping.json --memory "$MLC_TMP/mem1"
run "tasks mapping, memory (RocksDB)" --mapping config/mapping-tasks.json --memory "$MLC_TMP/mem2"
echo
echo "== summary: records/s on one core (pass 1: new keys, pass 2+: known keys)"
printf '%-40s %10s %12s\n' "run" "pass 1" "pass 2+"
printf '%s\n' "${results[@]}"
