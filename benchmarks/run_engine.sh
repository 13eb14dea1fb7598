#!/usr/bin/env bash
# Every measurement of the "Travel-time engine at real sizes" section of RESULTS.md, in
# order, then the section itself.  About an hour on 2 cores; needs ~20 GB of free disk
# under $OUT.  Usage (from the repository root):
#   ORIENTER_DATA_DIR=../shared/data benchmarks/run_engine.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/orienter-bench}
R=$OUT/results
PY=${PYTHON:-.venv/bin/python}
mkdir -p "$R"
: "${ORIENTER_DATA_DIR:?set ORIENTER_DATA_DIR to the data directory}"

# the directories: the WHO/KEMRI list as a 4W sheet imported with the directory, and
# 5,000 seeded synthetic providers; the seeded national OSM extract
[ -f benchmarks/data/providers_who.geojson ] || $PY benchmarks/make_directories.py who
[ -f benchmarks/data/providers_synthetic_5000.geojson ] || $PY benchmarks/make_directories.py synthetic
[ -f benchmarks/data/mali-synthetic.osm.pbf ] || $PY benchmarks/make_osm_extract.py
OSM_DATA=$OUT/data-osm
mkdir -p "$OSM_DATA/roads"
for d in boundaries conflict facilities journeys population settlements; do
  ln -sfn "$(realpath "$ORIENTER_DATA_DIR/$d")" "$OSM_DATA/$d"
done
ln -sfn "$(realpath benchmarks/data/mali-synthetic.osm.pbf)" "$OSM_DATA/roads/mali-synthetic.osm.pbf"

WHO=benchmarks/data/providers_who.geojson
SYN=benchmarks/data/providers_synthetic_5000.geojson
B="$PY benchmarks/bench_engine.py"

$B peers --providers $WHO --json "$R/peers_who.json"
$B peers --providers $SYN --cell-m 1000 --engines orienter orienter-k1 scipy-floor-pred scipy-floor-k per-provider --json "$R/peers_syn.json"
$B build --providers $WHO --mode car --scenario baseline --out "$OUT/who-car" --json "$R/build_who_car_baseline.json"
$B query --build "$OUT/who-car/build" --json "$R/query_who.json"
$B build --providers $SYN --mode car --scenario baseline --out "$OUT/syn-car" --json "$R/build_syn_car_baseline.json"
$B query --build "$OUT/syn-car/build" --json "$R/query_syn.json"
rm -rf "$OUT/syn-car" "$OUT/who-car"
$B build --providers data/providers.geojson --scenario baseline --out "$OUT/dir-baseline" --json "$R/build_dir_baseline.json"
rm -rf "$OUT/dir-baseline"
$B build --providers data/providers.geojson --mode car --scenario baseline --data-dir "$OSM_DATA" --out "$OUT/osm-car" --json "$R/build_osm_car_baseline.json"
rm -rf "$OUT/osm-car"
$B build --providers data/providers.geojson --mode car --scenario baseline --cell-m 500 --out "$OUT/grid500" --json "$R/build_grid500.json"
rm -rf "$OUT/grid500"
$B build --providers $SYN --out "$OUT/syn-all" --json "$R/build_syn_all.json"
rm -rf "$OUT/syn-all"
$B build --providers $WHO --out "$OUT/who-all" --json "$R/build_who_all.json"
$PY benchmarks/bench_serve_memory.py --build "$OUT/who-all/build" --workers 2 --json "$R/serve_w2.json"
$PY benchmarks/bench_serve_memory.py --build "$OUT/who-all/build" --workers 1 --json "$R/serve_w1.json"
$B report --results "$R"
