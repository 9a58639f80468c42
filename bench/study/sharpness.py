"""How sharp the teacher's and the zero-shot student's softmax over the training lists are, per temperature.

    python bench/study/sharpness.py E sentences        # E: a study folder (prepared/, index/, scored/)

Prints the mean normalised entropy and the mean probability of the top passage, for the student at temperature
0.05 (cosines against the index's passage embeddings) and for the teacher's normalised scores at several
temperatures, over the first 400 training lists of the given query types (L = 20).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import torch

from listdistill.config import Params
from listdistill.encoder import Encoder
from listdistill.io import read_json
from listdistill.losses import mean_entropy
from listdistill.records import read_docs
from listdistill.train import FrozenPassages, batch_scores, load_examples, make_batch


def main(folder: Path, mix: list[str]) -> None:
    texts = {d.doc_id: d.contents for d in read_docs(folder / "prepared" / "corpus.jsonl")}
    examples, _ = load_examples(folder / "scored", mix, "train", Params().train.list_length, set(texts))
    batch = make_batch(examples[:400], texts)
    meta = read_json(folder / "index" / "corpus_emb.json")
    frozen = FrozenPassages.load(folder / "index" / "corpus_emb.npy", meta["doc_ids"])
    p = Params()
    encoder = Encoder(dataclasses.replace(p.to_encoder(), model=meta["model"]))
    q = torch.from_numpy(encoder.encode_queries(batch.queries))  # (B, d)
    scores = batch_scores(q, frozen.lookup(batch.passage_ids), batch, p.train.false_negative_threshold)
    student, teacher, valid = scores.own_list(), scores.teacher, scores.valid  # (B, L) each

    def top(logits: torch.Tensor) -> float:
        return float(torch.softmax(logits.masked_fill(~valid, float("-inf")), -1).max(-1).values.mean())

    print(f"student t=0.05: entropy {mean_entropy(student / 0.05, valid):.3f} top {top(student / 0.05):.3f}")
    for t in (0.3, 0.2, 0.15, 0.1, 0.05, 0.02):
        print(f"teacher t={t}: entropy {mean_entropy(teacher / t, valid):.3f} top {top(teacher / t):.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2].split(","))
