# usage: minescore.sh <exp dir> <type> [--set key=value ...]  (params: ./params.yaml plus these, for both stages)
# Run from the repository root with the virtual environment active.
set -e
E=$1; T=$2; shift 2
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -m stages.mine --queries $E/generated/$T.jsonl --prepared $E/prepared --index $E/index --cache-dir $E/.cache/emb \
  --out $E/mined/$T --stats $E/mine-$T.json "$@"
python -m stages.score --candidates $E/mined/$T/candidates.jsonl --corpus $E/prepared/corpus.jsonl --index $E/index \
  --out $E/scored/$T --stats $E/score-$T.json "$@"
