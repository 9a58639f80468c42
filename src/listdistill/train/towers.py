"""Which towers train: ``both`` (one shared encoder) or ``query`` (the query encoder against the passage embeddings
the index stage computed, :class:`FrozenPassages`); and WiSE-FT weight interpolation (:func:`interpolate`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from listdistill.io import FormatError

TOWERS = ("both", "query")


@dataclass(frozen=True)
class FrozenPassages:
    """Passage embeddings computed once by the index stage, for query-tower training."""

    emb: torch.Tensor  # (N, d)
    rows: Mapping[str, int]  # doc_id -> row of emb

    @classmethod
    def load(cls, emb_path: Path, doc_ids: Sequence[str]) -> FrozenPassages:
        import numpy as np

        emb = torch.from_numpy(np.load(emb_path).astype(np.float32))  # (N, d)
        if len(emb) != len(doc_ids):
            raise FormatError(f"{emb_path}: {len(emb)} embeddings for {len(doc_ids)} doc ids")
        return cls(emb, {d: i for i, d in enumerate(doc_ids)})

    def lookup(self, doc_ids: Sequence[str]) -> torch.Tensor:
        return self.emb[[self.rows[d] for d in doc_ids]]  # (U, d)


def interpolate(
    zero_shot: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor], alpha: float
) -> dict[str, torch.Tensor]:
    """WiSE-FT: ``(1 - alpha) * zero_shot + alpha * tuned`` for every floating tensor (others are taken from
    ``tuned``); ``alpha`` 1 returns the tuned weights, 0 the zero-shot ones."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the interpolation weight alpha must be in [0, 1], got {alpha}")
    out = {}
    for name, t in tuned.items():
        z = zero_shot[name]
        out[name] = (1.0 - alpha) * z.to(t.dtype) + alpha * t if t.is_floating_point() else t
    return out
