#!/usr/bin/env bash
# Check the release protocol model with Spin: release.pml must pass in every scenario, and every
# mutant (a rule of the protocol broken on purpose) must make Spin report an error.
#
#   models/check.sh                 default bounds (under a minute on 2 cores)
#   models/check.sh --large         larger bounds (a few minutes, up to ~8 GB of memory)
#   models/check.sh --trail M3      run one mutant and print its counterexample as a story
#   models/check.sh model:order M1  run only these
#   options: --jobs N (parallel runs, default: the number of cores), --keep (keep the work dir)
#
# Exit status 0 when every model run passes and every mutant is caught; 1 otherwise; 2 on usage.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
large=0 keep=0 trail="" jobs=$(nproc 2>/dev/null || echo 2)
only=()
while [ $# -gt 0 ]; do
  case "$1" in
    --large) large=1 ;;
    --keep) keep=1 ;;
    --jobs) jobs=$2; shift ;;
    --trail) trail=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "check.sh: unknown option $1" >&2; exit 2 ;;
    *) only+=("$1") ;;
  esac
  shift
done

# Spin (Debian's package) and a C compiler for the verifiers it generates.
if ! command -v spin >/dev/null 2>&1; then
  echo "check.sh: installing spin (apt-get)" >&2
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq spin >/dev/null
  else sudo apt-get update -qq && sudo apt-get install -y -qq spin >/dev/null; fi
fi
command -v gcc >/dev/null 2>&1 || { echo "check.sh: gcc is needed to compile Spin's verifiers" >&2; exit 2; }

# Scenarios: which actors run besides the deploys of releases 1..NR (README.md, "Scenarios").
declare -A SCEN
SCEN[order]="-DNO_CI -DNO_APP -DNO_DRIFT -DNPRUNE=0 -DNREPAIR=0"
SCEN[retention]="-DNO_CI -DNO_DRIFT -DNO_REQUESTS -DNREPAIR=0 -DNO_OPERATOR"
SCEN[rebuild]="-DNO_CI -DNO_DRIFT -DNO_REQUESTS -DNREPAIR=0 -DNO_OPERATOR -DREBUILD"
SCEN[repair]="-DNO_APP -DNO_REQUESTS -DNPRUNE=0 -DMAXT=0 -DNO_REPUT"
SCEN[crashes]="-DNCRASH=2 -DNO_CI -DNO_APP -DNO_DRIFT -DNPRUNE=0 -DNREPAIR=0 -DNO_OPERATOR -DNO_REQUESTS -DMAXT=0"
# release NR goes through the sharded path (issue 17); the code's order rule (planned against), so S3's
# clock decides nothing there and stays at 0
SCEN[sharded]="-DSHARDED -DBAD_MEMBER -DPLANNED_AGAINST=2 -DMAXT=0 -DNO_CI -DNO_APP -DNO_DRIFT -DNO_REQUESTS -DNREPAIR=0 -DNO_OPERATOR"
SCEN[sharded-pins]="-DSHARDED -DPLANNED_AGAINST=2 -DMAXT=0 -DNCRASH=0 -DNO_CI -DNO_DRIFT -DNO_REQUESTS -DNREPAIR=0 -DNO_OPERATOR"

# name | kind | scenario | extra flags | what it breaks (mutants)
RUNS=(
  "model:order|model|order||"
  "model:retention|model|retention||"
  "model:rebuild|model|rebuild||"
  "model:repair|model|repair||"
  "model:crashes|model|crashes||"
  "model:planned|model|order|-DPLANNED_AGAINST=2|"
  "model:sharded|model|sharded||"
  "model:sharded-pins|model|sharded-pins||"
)
if [ "$large" -eq 1 ]; then
  RUNS=(
    "model:order+dup|model|order|-DNDUP=1|"
    "model:order+crash|model|order|-UNCRASH -DNCRASH=2|"
    "model:retention+|model|retention|-DNPRUNE=2 -DKEEP=2 -DMAXT=2|"
    "model:rebuild+|model|rebuild|-DNPRUNE=2 -DMAXT=2|"
    "model:repair+proc|model|repair|-UNO_REPUT -DREPAIR_PROC|"
    "model:crashes+|model|crashes|-UNCRASH -DNCRASH=3|"
    "model:four-releases|model|crashes|-DNDUP=1 -DNR=4|"
    "model:planned+|model|retention|-DPLANNED_AGAINST=2 -UNCRASH -DNCRASH=2|"
    "model:sharded+order|model|sharded|-UNO_REQUESTS -UNO_OPERATOR -UBAD_MEMBER|"
    "model:sharded+dates|model|sharded|-UPLANNED_AGAINST -UMAXT -UBAD_MEMBER|"
    "model:sharded+u|model|sharded|-DSHR=2|"
    "model:sharded-pins+|model|sharded-pins|-UNCRASH|"
    "model:sharded-reclaim|model|sharded|-DFINISH_RECLAIM|"
  )
fi
RUNS+=(
  "M1|mutant|order|-DMUT_UNCONDITIONAL_CUTOVER|the cutover PUT without its IfMatch condition"
  "M2|mutant|order|-DMUT_UNCLAIMED_REQUEST|a rollback request that does not claim .releases/requests/<id>"
  "M3|mutant|repair|-DMUT_CLAIM_EARLY|the journal claim beside the hashed PUTs, before the checks"
  "M4a|mutant|retention|-DMUT_FUNCTION_CLOCK|retention dates pins by the function's clock"
  "M4b|mutant|retention|-DMUT_PRUNE_INFLIGHT|retention does not keep releases claimed above the live place"
  "M5|mutant|repair|-DMUT_REPAIR_INFLIGHT|repair while a claim is above the live place"
  "M6|mutant|order|-DMUT_REPORT_ALREADY_LIVE|a request whose target is live reported as run"
  "M7|mutant|crashes|-DMUT_RESUME_ANYWHERE|a retry resumes at its own entry although others claimed above it"
  "M8|mutant|retention|-DMUT_RESUME_STALE|a retry resumes at its own entry planned against another live place"
  "M9|mutant|crashes|-DMUT_NO_DIRTY|stepped-over claims' unhashed names are not rewritten"
  "M10|mutant|order|-DMUT_CLAIM_CAP=1|a cap on the claims stepped over"
  "M11|mutant|order|-DMUT_STRICT_OLDER|older means strictly before the last cutover (S3 dates tie)"
  "M12|mutant|retention|-DMUT_HISTORY_FIRST|the history record written before the hashed files"
  "M13|mutant|retention|-DMUT_NO_MARKER|no retired marker: pinned storage checks the history record only"
  "M14|mutant|repair|-DMUT_REPAIR_TRUSTS|repair restores from a staged artifact that is not the live record"
  "M15|mutant|order|-DMUT_NO_INFLIGHT_EXCEPTION|older by date alone, also for a retry whose claim is in flight"
  "M16|mutant|order|-DPLANNED_AGAINST=1|older when planned against another live state, also a retry in flight"
  "M17|mutant|sharded|-DMUT_CLAIM_AT_FINISH|sharded: the journal claim only at FINISH, after the shards"
  "M18|mutant|sharded|-DMUT_TRUST_ENGINE|sharded: FINISH cuts over without checking every shard's marker"
  "M19|mutant|sharded|-DMUT_STALE_FINISH|sharded: FINISH cuts over IfMatch the ETag it re-read, not the one planned against"
  "M20|mutant|sharded|-DSHR=2 -DMUT_FINISH_AT_PLAN|sharded: FINISH at PLAN's claim with PLAN's dirty names (the design as issued)"
  "M21|mutant|sharded|-DMUT_FINISH_NO_RECLAIM|sharded: FINISH re-walks the dirty names but cuts over at PLAN's claim"
  "M22|mutant|sharded-pins|-DNPRUNE=0 -DMUT_PIN_RECORD_ONLY|sharded: pinned storage trusts the record PLAN wrote before the uploads"
)

if [ -n "$trail" ]; then only=("$trail"); fi
selected=()
for run in "${RUNS[@]}"; do
  name=${run%%|*}
  if [ ${#only[@]} -eq 0 ]; then selected+=("$run"); continue; fi
  for want in "${only[@]}"; do [ "$want" = "$name" ] && selected+=("$run"); done
done
[ ${#selected[@]} -gt 0 ] || { echo "check.sh: no run named ${only[*]}" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/release-model.XXXXXX")
if [ "$keep" -eq 0 ] && [ -z "$trail" ]; then trap 'rm -rf "$work"' EXIT; fi
mem=$([ "$large" -eq 1 ] && echo 12000 || echo 4000)

run_one() {  # name kind scenario extra
  local name=$1 kind=$2 scen=$3 extra=$4 dir="$work/${1//:/_}" start end opt
  mkdir -p "$dir" && cp "$here/release.pml" "$dir/"
  cd "$dir"
  start=$(date +%s.%N)
  # -O2 pays off on runs that explore millions of states; a mutant usually fails within a few
  # thousand, so it is compiled fastest with -O0.
  opt=$([ "$kind" = model ] && echo -O2 || echo -O0)
  # shellcheck disable=SC2086
  echo "${SCEN[$scen]} $extra" > flags
  # shellcheck disable=SC2086
  if ! spin -a ${SCEN[$scen]} $extra release.pml > spin.out 2>&1 \
     || ! gcc $opt -DSAFETY -DCOLLAPSE -DMEMLIM=$mem -w -o pan pan.c > gcc.out 2>&1; then
    echo "$name|$kind|-|-|-|-|-|BUILD FAILED (see $dir)" > result; return
  fi
  ./pan -m100000 -w25 -n > pan.out 2>&1 || true
  end=$(date +%s.%N)
  local stored trans depth secs errors complete result why
  stored=$(awk '/states, stored/ {printf "%.0f", $1; exit}' pan.out)
  trans=$(awk '/transitions \(= stored\+matched\)/ {printf "%.0f", $1; exit}' pan.out)
  depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' pan.out | head -1)
  errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out | head -1)
  secs=$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\) seconds/\1/p' pan.out | head -1)
  complete=yes
  grep -q -e "Search not completed" -e "max search depth too small" -e "out of memory" pan.out && complete=no
  why=$(grep -m1 -e "assertion violated" -e "invalid end state" pan.out | sed 's/^pan:[0-9]*: *//; s/ (at depth [0-9]*)//' || true)
  if [ "$kind" = model ]; then
    if [ "${errors:-1}" = 0 ] && [ "$complete" = yes ]; then result="pass"
    else result="FAIL: ${why:-search incomplete}"; fi
  else
    if [ "${errors:-0}" != 0 ]; then result="caught: ${why}"
    else result="SURVIVED"; fi
  fi
  printf '%s|%s|%s|%s|%s|%s|%.1f|%s\n' "$name" "$kind" "${stored:--}" "${trans:--}" "${depth:--}" \
    "${secs:--}" "$(echo "$end - $start" | bc)" "$result" > result
}

started=$(date +%s.%N)
pids=()
for run in "${selected[@]}"; do
  IFS='|' read -r name kind scen extra _ <<< "$run"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  ( run_one "$name" "$kind" "$scen" "$extra" ) &
  pids+=($!)
done
wait

status=0
printf '%-20s %-6s %12s %12s %6s %8s %7s  %s\n' run kind "states" transitions depth "pan s" "wall s" result
for run in "${selected[@]}"; do
  IFS='|' read -r name kind _ _ _ <<< "$run"
  IFS='|' read -r _ _ stored trans depth secs wall result < "$work/${name//:/_}/result"
  printf '%-20s %-6s %12s %12s %6s %8s %7s  %s\n' "$name" "$kind" "$stored" "$trans" "$depth" "$secs" "$wall" "$result"
  case "$result" in pass|caught*) ;; *) status=1 ;; esac
done
for run in "${selected[@]}"; do
  IFS='|' read -r name kind _ _ what <<< "$run"
  [ "$kind" = mutant ] && printf '  %-5s %s\n' "$name" "$what"
done
printf 'total %.0f s on %s parallel jobs; %s\n' "$(echo "$(date +%s.%N) - $started" | bc)" "$jobs" \
  "$([ $status = 0 ] && echo 'every model run passes, every mutant is caught' || echo 'FAILED')"

if [ -n "$trail" ]; then
  dir="$work/${trail//:/_}"
  if [ -f "$dir/release.pml.trail" ]; then
    echo; echo "counterexample of $trail (spin -t; the model's printf lines):"
    # shellcheck disable=SC2046
    (cd "$dir" && spin -t $(cat flags) release.pml 2>&1) \
      | grep -v -E '^[[:space:]]*$|processes created|terminates|^spin: trail ends|^#processes|^[[:space:]]*[0-9]+:[[:space:]]+proc|^[[:space:]]*[A-Za-z_0-9]+(\[[0-9]+\])? = |is newer than' \
      | sed 's/^[[:space:]]\{6,\}/  /'
  fi
  echo "(work dir: $work)"
fi
[ "$keep" -eq 1 ] && echo "(work dir kept: $work)"
exit $status
