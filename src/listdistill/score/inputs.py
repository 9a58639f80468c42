"""score's inputs, read and checked against the corpus before any work (docs/formats.md): one query type's mined
lists, the prepared corpus, and (for the bm25 and dense teachers) the index; and the teacher's raw scores of them,
its errors named by the candidates file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from listdistill.errors import StageError
from listdistill.index.runs import IndexPaths
from listdistill.records import Doc, MinedQuery, read_candidates, read_docs
from listdistill.score.lists import raw_scores
from listdistill.teachers import Candidates, Teacher


@dataclass(frozen=True)
class ScoreInputs:
    candidates: Path  # mine's candidates.jsonl
    docs: dict[str, Doc]  # the corpus, in corpus order
    mined: list[MinedQuery]
    index: IndexPaths | None

    def raw_scores(self, teacher: Teacher, lists: Sequence[Candidates], units: Sequence[range]) -> list[np.ndarray]:
        """:func:`~listdistill.score.lists.raw_scores`; a list the teacher cannot score is an error naming the
        candidates file."""
        try:
            return raw_scores(lists, teacher, self.docs, units)
        except (ValueError, KeyError) as e:
            raise StageError(f"{self.candidates}: {e.args[0] if isinstance(e, KeyError) else e}") from e


def read_inputs(candidates: Path, corpus: Path, index_dir: Path | None) -> ScoreInputs:
    """The mined lists, each passage checked against the corpus, the index (if given) against the corpus; an empty
    candidates file is an error (mine kept none)."""
    docs = read_docs(corpus)
    mined = read_candidates(candidates, {d.doc_id for d in docs})
    index = IndexPaths(index_dir) if index_dir is not None else None
    if index is not None:
        index.check(docs, corpus)
    if not mined:
        raise StageError(f"{candidates}: expected mined queries, got an empty file (mine kept none?)")
    return ScoreInputs(candidates, {d.doc_id: d for d in docs}, mined, index)
