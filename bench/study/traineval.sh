# usage: traineval.sh <exp dir> <name> <scored dir> [--set key=value ...]  (params: ./params.yaml plus these)
# Run from the repository root with the virtual environment active.
set -e
E=$1; N=$2; S=$3; shift 3
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
R=$E/runs/$N; mkdir -p $R
start=$(date +%s)
python -m stages.train --scored $S --corpus $E/prepared/corpus.jsonl --index $E/index --set device=cpu \
  --checkpoint-dir $R/ckpt --out $R/student --metrics $R/train.json --curve $R/curve.tsv --dev-curve $R/dev.tsv "$@" > $R/train.log 2>&1
mid=$(date +%s)
python -m stages.evaluate --prepared $E/prepared --index $E/index --student $R/student --out $R/eval --metrics $R/eval.json \
  --set device=cpu "$@" > $R/eval.log 2>&1
end=$(date +%s)
echo "$N train_s=$((mid-start)) eval_s=$((end-mid)) $(python -c "
import json; m=json.load(open('$R/eval.json')); t=json.load(open('$R/train.json'))
print('zs', m['student_zero_shot']['nDCG@10'], 'student', m['student']['nDCG@10'], 'delta', round(m['student']['nDCG@10']-m['student_zero_shot']['nDCG@10'],4), 'p', m['student_vs_zero_shot_p']['nDCG@10'], 'R100', m['student']['R@100'], 'zsR100', m['student_zero_shot']['R@100'], 'q', t['train_queries'], 'steps', t['steps'], 'best_ep', t['best_epoch'])
")" | tee -a $E/results.txt
