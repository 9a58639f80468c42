#!/bin/bash
# The label-free vs real table (docs/results.md, "Label-free evaluation against real judgments"), from the
# eval.json of each hidden-judgment run kept here. Run from the repository root: bash bench/results/hide_runs/table.sh
H=bench/results/hide_runs
args=(--run "adi/former default=$H/adi/eval.json"
  --run "cranfield/former default=$H/cran/eval.json" --run "cranfield/default=$H/cran-default/eval.json"
  --run "cranfield/strong teacher=$H/cran-strong/eval.json"
  --run "cranfield/strong teacher, T 0.3=$H/cran-strong-t03/eval.json"
  --run "cranfield/strong teacher, infonce=$H/cran-strong-infonce/eval.json"
  --run "scifact/default=$H/scifact-default/eval.json")
for c in vaswani med lisa; do
  for s in "default:default" "t03:T 0.3" "infonce:infonce" "bm25teacher:BM25-only teacher"; do
    args+=(--run "$c/${s#*:}=$H/$c-${s%%:*}/eval.json")
  done
done
python bench/proxy_vs_real.py "${args[@]}" --out bench/results/proxy_vs_real
