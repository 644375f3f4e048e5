#!/usr/bin/env bash
# bench/report.sh [FILE] [--markdown]: prints a benchmark result (bench/run.sh's JSON,
# default bench/results/latest.json) as tables: one row per configuration and phase, the
# processes' peak RSS and CPU, and the targets of issue 8. --markdown prints Markdown tables
# (docs/benchmarks.md holds the latest).
set -u
FILE=""
MD=0
for a in "$@"; do
    case $a in
    --markdown) MD=1 ;;
    *) FILE=$(realpath -m -- "$a") ;;
    esac
done
cd "$(dirname "$0")/.." || exit 1
[ -n "$FILE" ] || FILE=bench/results/latest.json
[ -r "$FILE" ] || { echo "report: no results file $FILE (run bench/run.sh)" >&2; exit 1; }

jq -r --argjson md $MD '
def pad($n): tostring | if length >= $n then . else (" " * ($n - length)) + . end;
def lpad($n): tostring | if length >= $n then . else . + (" " * ($n - length)) end;
def num: if . == null then "-" else tostring end;
def row($cells; $widths):
  if $md == 1 then "| " + ($cells | map(num) | join(" | ")) + " |"
  else [range(0; $cells | length) as $i
        | if $i < 2 then ($cells[$i] | num | lpad($widths[$i])) else ($cells[$i] | num | pad($widths[$i])) end]
       | join(" ") end;
def header($cells; $widths):
  row($cells; $widths),
  (if $md == 1 then "|" + ($cells | map("---") | join("|")) + "|" else empty end);
def round1: if . == null then null else (. * 10 | round) / 10 end;
def mib: if . == null then null else (. / 1024 | round1) end;

. as $r
| "ml-connector benchmark \($r.timestamp) (\($r.mode), commit \($r.commit), \($r.cpus) CPUs): per tenant \($r.data_set.per_tenant.suppliers) suppliers, \($r.data_set.per_tenant.customers) customers, \($r.data_set.per_tenant.invoices) invoices, \($r.data_set.per_tenant.pos) purchase orders; 3 tenants; \($r.bench_seconds) s in all",
"",
([["loaders/latency", "phase", "records", "wall s", "rec/s", "CPU us/rec", "CPU-bound rec/s", "SF calls", "min", "over %", "calls/rec", "CS calls", "CS tok", "SF tok", "failed", "chg->arr med ms", "p99 ms"],
  [15, 11, 8, 7, 7, 10, 15, 8, 6, 6, 9, 8, 6, 6, 6, 15, 7]] as [$h, $w]
 | header($h; $w),
   ($r.configs[] as $c | $c.phases[] as $p
    | row(["\($c.loaders) / \($c.sf_latency_ms) ms", $p.phase + (if $p.complete == false then " (INCOMPLETE)" else "" end),
           $p.records, ($p.wall_s | round1), $p.records_per_s, $p.cpu.all_us_per_record,
           $p.cpu.cpu_bound_records_per_s, $p.salesforce.api_calls,
           $p.salesforce.min_calls, $p.salesforce.over_min_pct, $p.salesforce.calls_per_record,
           $p.cloudsuite.data_requests, $p.cloudsuite.token_requests, $p.salesforce.token_requests,
           (($p.replayer.failed // 0) + ($p.replayer.rejected // 0)),
           $p.change_to_arrival.median_ms, $p.change_to_arrival.p99_ms]; $w))),
"",
"Load average (1 min) at the start and end of each configuration: " +
  ([$r.configs[] | "\(.loaders)/\(.sf_latency_ms)ms \(.load_average.start)-\(.load_average.end)"] | join(", ")) +
  " (other work on the machine slows every number down)",
"",
(if [$r.configs[] | select(.reference_work_ms)] | length > 0 then
  "Machine speed: a fixed piece of single-core work (SHA-256 of 128 MiB) took, before-after each configuration: " +
  ([$r.configs[] | select(.reference_work_ms) | "\(.loaders)/\(.sf_latency_ms)ms \(.reference_work_ms.start)-\(.reference_work_ms.end) ms"] | join(", ")) +
  " (a shared virtual machine changes speed without showing steal time: CPU per record grows with this figure)"
 else empty end),
"",
"Salesforce calls per object (backfill): " +
  ([$r.configs[] | "\(.loaders)/\(.sf_latency_ms)ms: " +
     ((.phases[] | select(.phase == "backfill") | .salesforce.by_object | to_entries
       | map("\(.key) \(.value.calls) calls \(.value.written) rec (min \(.value.min_calls))") | join(", ")))]
   | join("; ")),
"",
([["loaders/latency", "process", "peak RSS MiB", "CPU s backfill", "incremental", "unchanged"],
  [15, 22, 12, 14, 11, 9]] as [$h, $w]
 | header($h; $w),
   ($r.configs[] as $c
    | ([$c.phases[].processes | keys[]] | unique) as $names
    | $names[] as $n
    | row(["\($c.loaders) / \($c.sf_latency_ms) ms", $n,
           ([$c.final_processes[$n].rss_kib, ($c.phases[].processes[$n].rss_kib)] | map(select(. != null)) | max | mib),
           ($c.phases[] | select(.phase == "backfill") | .processes[$n].cpu_s),
           ($c.phases[] | select(.phase == "incremental") | .processes[$n].cpu_s),
           ($c.phases[] | select(.phase == "unchanged") | .processes[$n].cpu_s)]; $w))),
"",
"Targets (issue 8):",
($r.targets | to_entries[] |
  (if $md == 1 then "- " else "  " end) + "\(if .value.met == true then "MET    " elif .value.met == false then "MISSED " else "n/a    " end) \(.key): \(.value.value | tojson)" +
  (if .value.target != null then " (target \(.value.target))" else "" end) +
  (if .value.process then " [\(.value.process)]" else "" end) +
  (if .value.records_per_s then " \(.value.records_per_s | map("\(.l) loaders: \(.r)/s") | join(", "))" else "" end))
' "$FILE"
