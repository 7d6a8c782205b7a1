#!/bin/sh
# The sweep across 2 MPI ranks writes the CSV the threaded sweep writes, byte for byte, and a
# rerun under MPI finds every point finished. Arguments: mozart binary, mpiexec, sweep file.
set -eu
mozart=$1 mpiexec=$2 spec=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# mpirun refuses root unless told (containers, CI); oversubscribe: 2 ranks on fewer cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
"$mozart" sweep "$spec" --jobs 2 --out-dir "$work/threads" >/dev/null
"$mpiexec" -n 2 "$mozart" sweep "$spec" --out-dir "$work/ranks" >"$work/out"
cat "$work/out"
grep -q "run now on 2 workers" "$work/out"
cmp "$work/threads/results.csv" "$work/ranks/results.csv"
"$mpiexec" -n 2 "$mozart" sweep "$spec" --out-dir "$work/ranks" >"$work/again"
grep -q "0 run now" "$work/again"
cmp "$work/threads/results.csv" "$work/ranks/results.csv"
echo "MPI and threaded CSVs are identical"
