#!/bin/sh
# Every figure of tools/figures.py from real outputs of mozart: PNG and SVG written, the same
# bytes twice; and each figure refuses a JSON it does not understand with one line and exit 2.
# Arguments: mozart binary, python, figures.py, sweep test data directory.
# Exit 77 (skipped) where the python has no matplotlib.
set -eu
mozart=$1 python=$2 script=$3 data=$4
"$python" -c "import matplotlib, numpy" 2>/dev/null || { echo "no matplotlib: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$mozart" -q simulate --model olmoe-1b-7b --hw mozart-paper-olmoe --sequences 2 --seq-len 16 \
  --micro-batches 1 --weights-may-overflow --no-resimulate -o sim.json --timeline tl.json >/dev/null
"$mozart" -q trace gen --model olmoe-1b-7b --tokens 512 --seed 1 -o t.mzt >/dev/null
"$mozart" -q trace stats t.mzt -o stats.json >/dev/null
"$mozart" -q place --trace t.mzt --hw mozart-paper-olmoe --placer contiguous -o pl.json >/dev/null
"$mozart" -q sweep "$data/collective.yaml" --out-dir sweep >/dev/null
fig() { "$python" "$script" "$@"; }
check() {  # OUT: a PNG and an SVG
  head -c 8 "$1.png" | od -An -c | grep -q "P   N   G" || { echo "$1.png is not a PNG"; exit 1; }
  grep -q "<svg" "$1.svg" || { echo "$1.svg is not an SVG"; exit 1; }
}
# Drawn in one process (--batch), as `mozart report` draws them.
# study.json: `mozart reproduce mozart --quick --models olmoe-1b-7b -o study.json`
cat >jobs.jsonl <<JOBS
["speedup", "$data/../report/study.json", "-o", "speedup"]
["breakdown", "sim.json", "-o", "breakdown"]
["coactivation", "stats.json", "pl.json", "--layer", "3", "-o", "coactivation"]
["links", "sim.json", "-o", "links"]
["links", "sweep/points/000000.json", "-o", "links2"]
["timeline", "tl.json", "--window", "0.2", "-o", "timeline"]
["sweep", "sweep/results.csv", "--x", "hw.topology.link.bandwidth", "--y", "time_s", "-o", "sweep"]
["sweep", "sweep/results.csv", "--x", "kind", "-o", "sweep-kind"]
["pareto", "sweep/results.csv", "--x", "area_mm2", "--y", "time_s", "-o", "pareto"]
JOBS
fig --batch jobs.jsonl
for out in speedup breakdown coactivation links links2 timeline sweep sweep-kind pareto; do
  check $out
done
# Deterministic: the same inputs draw the same bytes.
fig links sim.json -o again && cmp links.png again.png && cmp links.svg again.svg
# Inputs a figure does not understand: one line, exit 2.
echo '{"rows": "no"}' > bad.json
echo 'not json' > text.json
for case in "speedup sim.json" "speedup bad.json" "breakdown stats.json" "coactivation sim.json pl.json" \
            "coactivation stats.json sim.json" "links stats.json" "timeline sim.json" \
            "sweep sim.json" "pareto sweep/sweep.json" "links text.json" "speedup missing.json"; do
  set +e
  fig $case -o bad 2>err
  status=$?
  set -e
  [ "$status" -eq 2 ] || { echo "figures.py $case: exit $status, expected 2"; cat err; exit 1; }
  [ "$(wc -l <err)" -eq 1 ] || { echo "figures.py $case: not one line:"; cat err; exit 1; }
done
echo "every figure drawn; every bad input refused in one line"
