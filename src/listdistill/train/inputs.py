"""train's inputs, read and checked against the corpus before any work (docs/formats.md): the scored lists of the
query mix, the corpus texts, and (query tower) the index's corpus embeddings the query encoder trains against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from listdistill.errors import StageError
from listdistill.records import read_docs, read_embeddings
from listdistill.train.data import Example, ListSelection, ListStats, load_lists
from listdistill.train.towers import FrozenPassages


@dataclass(frozen=True)
class TrainInputs:
    texts: dict[str, str]  # passage id -> text, in corpus order
    train: list[Example]
    dev: list[Example]
    stats: ListStats  # of the training lists
    frozen: FrozenPassages | None  # the index's passage embeddings (query tower), else None


def read_inputs(scored: Path, corpus: Path, index_dir: Path | None, selection: ListSelection, model: str,
                tower: str) -> TrainInputs:  # fmt: skip
    """The selected lists of ``scored`` (``<type>/{train,dev}.jsonl``, :func:`load_lists`), every passage checked
    against ``corpus``; for ``tower`` query, the embeddings of ``index_dir`` (:func:`load_frozen`)."""
    texts = {d.doc_id: d.contents for d in read_docs(corpus)}
    train, dev, stats = load_lists(scored, selection, set(texts))
    frozen = load_frozen(index_dir, model, list(texts), corpus) if tower == "query" else None
    return TrainInputs(texts, train, dev, stats, frozen)


def load_frozen(index_dir: Path | None, model: str, corpus: list[str], corpus_file: Path) -> FrozenPassages:
    """The index stage's corpus embeddings, checked against the corpus (:func:`~listdistill.records.read_embeddings`)
    and to come from the student being trained."""
    if index_dir is None:
        raise StageError("train.tower query trains against the index's corpus embeddings: give --index")
    meta, _ = read_embeddings(index_dir / "corpus_emb.json", index_dir / "corpus_emb.npy", corpus, str(corpus_file))
    if meta.model != model:
        raise StageError(
            f"{index_dir / 'corpus_emb.json'}: the corpus embeddings are of model {meta.model!r}, "
            f"not of the student {model!r}; rerun the index stage"
        )
    return FrozenPassages.load(index_dir / "corpus_emb.npy", meta.doc_ids)
