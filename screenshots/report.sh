#!/usr/bin/env bash
# Rewrites the report screenshots from a real run of the command line:
# report-page-1.png (the PDF's first page, via pdftoppm) and report-summary.png (the PNG card).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${INFERSCOPE:-target/debug/inferscope}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" bench assets/mlp.onnx --data assets/digits.npz --batch 1,8,32 --engine both \
    --iterations 500 --json "$dir/r.json" >/dev/null
"$bin" cost --results "$dir/r.json" --monthly-requests 5000000 --json "$dir/c.json" >/dev/null
"$bin" report "$dir/r.json" "$dir/c.json" --pdf "$dir/report.pdf" --png screenshots/report-summary.png
pdftoppm -png -r 80 -f 1 -l 1 -singlefile "$dir/report.pdf" screenshots/report-page-1
