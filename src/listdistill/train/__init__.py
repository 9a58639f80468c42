"""Fine-tune the student on teacher-scored candidate lists.

Input (one folder per query type, written by the ``score`` stage): ``<scored>/<type>/{train,dev}.jsonl``, records
``{"query_id", "text", "query_type", "source_doc_id", "candidates": [{"doc_id", "teacher_score", "raw_score"}]}``
with candidates in candidate order and ``teacher_score`` normalised to [0, 1]. The source passage is the positive.

Each query becomes a list of ``list_length`` passages: the first candidates, the positive always among them. A
batch of ``B`` queries is embedded as ``B`` queries and the batch's distinct passages; every query is scored against
every passage of every list in the batch (``B * L`` columns), which gives listwise losses their own list and
InfoNCE its in-batch negatives (see :mod:`listdistill.losses`). Gradients come from chunked gradient caching
(:mod:`listdistill.gradcache`), so the loss sees the whole batch whatever the chunk size.

The loop: AdamW, linear warmup then linear decay, gradient clipping, optional bf16 autocast and gradient
checkpointing, a dev loss after each epoch, early stopping with patience, the best epoch's weights kept, and a
checkpoint folder from which an interrupted run resumes where it stopped.

Towers (``TrainConfig.tower``): ``both`` trains one shared encoder on queries and passages; ``query`` trains the
query encoder only, against the passage embeddings the index stage already computed (:class:`FrozenPassages`), so
no passage passes through the encoder in training and the corpus never needs re-indexing (index-preserving
query-side adaptation). Weight-space ensembling (WiSE-FT, Wortsman et al., 2022, "Robust fine-tuning of zero-shot
models") mixes the fine-tuned weights with the zero-shot ones at the end: ``(1 - alpha) * zero_shot + alpha *
tuned`` (:func:`interpolate`; ``alpha`` 1 keeps the fine-tuned weights).

Modules: :mod:`~listdistill.train.data` (lists and batches), :mod:`~listdistill.train.towers` (frozen passages,
WiSE-FT), :mod:`~listdistill.train.config` (config, state, run fingerprint), :mod:`~listdistill.train.optim`
(optimizer, schedule), :mod:`~listdistill.train.checkpoints` (resumable checkpoints),
:mod:`~listdistill.train.objective` (training, dev and calibration losses), :mod:`~listdistill.train.loop` (the
loop) and :mod:`~listdistill.train.export` (the saved student).
"""

from __future__ import annotations

from listdistill.train.checkpoints import Checkpoints
from listdistill.train.config import TrainConfig, TrainState, fingerprint
from listdistill.train.data import (
    Batch,
    Example,
    ListStats,
    batch_scores,
    build_example,
    cap,
    cap_per_type,
    dev_batches,
    epoch_batches,
    load_examples,
    make_batch,
)
from listdistill.train.export import save_student, sentence_transformers_files
from listdistill.train.loop import enable_checkpointing, train
from listdistill.train.objective import calibrate_teacher_temperature, dev_losses, make_loss
from listdistill.train.optim import linear_schedule, make_optimizer
from listdistill.train.towers import TOWERS, FrozenPassages, interpolate

__all__ = [
    "TOWERS",
    "Batch",
    "Checkpoints",
    "Example",
    "FrozenPassages",
    "ListStats",
    "TrainConfig",
    "TrainState",
    "batch_scores",
    "build_example",
    "calibrate_teacher_temperature",
    "cap",
    "cap_per_type",
    "dev_batches",
    "dev_losses",
    "enable_checkpointing",
    "epoch_batches",
    "fingerprint",
    "interpolate",
    "linear_schedule",
    "load_examples",
    "make_batch",
    "make_loss",
    "make_optimizer",
    "save_student",
    "sentence_transformers_files",
    "train",
]
