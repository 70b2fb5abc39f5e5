#!/usr/bin/env bash
# Rewrites the report screenshots from real runs of the command line:
# report-page-1.png and report-summary.png (a benchmark with its cost plan: the PDF's first
# page via pdftoppm, and the PNG card); report-compare-page-N.png and report-compare-card.png
# (the comparison in the issue that asked for it: mlp against int8, structured pruning and
# fp16 at batch 1 and 32); and, when the real-model corpus is fetched
# (corpus/corpus.py fetch), real-compare-page-N.png and real-compare-card.png for the PaddleOCR
# text recognizer.
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

"$bin" compare assets/mlp.onnx --data assets/digits.npz --variant int8 \
    --variant prune:0.5:structured --variant fp16 --batch 1,32 --monthly-requests 20000000 \
    --pdf "$dir/cmp.pdf" --png screenshots/report-compare-card.png >/dev/null
rm -f screenshots/report-compare-page-*.png
pdftoppm -png -r 80 -f 1 -l 2 "$dir/cmp.pdf" screenshots/report-compare-page

corpus=${INFERSCOPE_CORPUS:-$HOME/.cache/inferscope/corpus}/models
if [ -f "$corpus/ppocr-rec.onnx" ]; then
    "$bin" compare "$corpus/ppocr-rec.onnx" --data "$corpus/ppocr-rec.npz" --engine ort \
        --variant int8 --variant fp16 --variant prune:0.3:structured --batch 1 --duration 3 \
        --monthly-requests 20000000 --pdf "$dir/real.pdf" \
        --png screenshots/real-compare-card.png >/dev/null
    rm -f screenshots/real-compare-page-*.png
    pdftoppm -png -r 80 -f 1 -l 2 "$dir/real.pdf" screenshots/real-compare-page
fi
