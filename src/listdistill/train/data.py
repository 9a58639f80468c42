"""Training lists and batches: scored records cut to lists of ``list_length`` passages, the positive always among
them; batches of ``B`` lists with their distinct passages; the scores of a batch laid out list by list."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from listdistill.io import FormatError
from listdistill.losses import Scores, negative_mask
from listdistill.records import query_line, read_scored


@dataclass(frozen=True)
class Example:
    """One training query and its list (the positive included)."""

    query_id: str
    text: str
    query_type: str
    doc_ids: tuple[str, ...]  # (<= L,)
    teacher: tuple[float, ...]  # (<= L,) normalised teacher scores
    positive: int  # index of the source passage in doc_ids


@dataclass
class ListStats:
    """What building the lists did, for the training log."""

    queries: int = 0
    skipped_short: int = 0  # fewer than two distinct passages
    positive_moved: int = 0  # source passage listed beyond position L, moved into the list
    positive_added: int = 0  # source passage not among the candidates, added with teacher score 1.0


def build_example(rec: Mapping[str, Any], query_type: str, list_length: int, where: str) -> tuple[Example | None, str]:
    """Cut one scored record to a list of ``list_length`` passages holding the positive.

    Returns the example (None with fewer than two distinct passages) and where the positive came from: ``listed``
    (among the first ``list_length`` candidates), ``moved`` (listed further down; it replaces the last one) or
    ``added`` (not a candidate; it replaces the last one with teacher score 1.0, the top of the normalised range).
    """
    seen: dict[str, float] = {}
    for c in rec["candidates"]:
        try:
            did, score = str(c["doc_id"]), float(c["teacher_score"])
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"{where}: candidate {c!r} needs 'doc_id' and a numeric 'teacher_score'") from e
        if not -1e-6 <= score <= 1 + 1e-6:
            raise FormatError(f"{where}: teacher_score {score} of {did!r} is not normalised to [0, 1]")
        seen.setdefault(did, score)
    source = str(rec["source_doc_id"])
    ids = list(seen)[:list_length]
    how = "listed" if source in ids else "moved" if source in seen else "added"
    if how != "listed":
        ids = ids[: list_length - 1] + [source]
    if len(ids) < 2:
        return None, how
    teacher = tuple(seen.get(d, 1.0) for d in ids)
    return Example(str(rec["query_id"]), str(rec["text"]), query_type, tuple(ids), teacher, ids.index(source)), how


def load_examples(
    scored: Path,
    query_mix: Sequence[str],
    split: str,
    list_length: int,
    doc_ids: set[str],
    seen: dict[str, Path] | None = None,
) -> tuple[list[Example], ListStats]:
    """Read ``<scored>/<type>/<split>.jsonl`` for each type of the mix, in mix order (each record checked by
    :func:`~listdistill.records.read_scored` against the corpus's ``doc_ids`` and the folder's type). ``seen``:
    the query ids already loaded and their files (pass one dict to the train and the dev call): a query id in two
    lists is an error (a query in train and dev would leak)."""
    if not query_mix:
        raise ValueError("query_mix is empty: name at least one query type")
    available = sorted(p.name for p in scored.iterdir() if p.is_dir()) if scored.is_dir() else []
    examples: list[Example] = []
    stats = ListStats()
    for qtype in query_mix:
        path = scored / qtype / f"{split}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: no scored {split} lists for query type {qtype!r}; found types {available}"
            )
        seen = {} if seen is None else seen
        for n, rec in enumerate(read_scored(path, doc_ids, qtype), start=1):  # ids, text, scores, corpus, type
            where = f"{path}: record {n}"
            if rec.query_id in seen:
                first, again = query_line(str(seen[rec.query_id]), rec.query_id), query_line(str(path), rec.query_id)
                raise FormatError(f"{again}: expected a query id unique across the lists, {rec.query_id!r} is also "
                                  f"at {first}")  # fmt: skip
            seen[rec.query_id] = path
            ex, how = build_example(asdict(rec), rec.query_type, list_length, where)
            stats.queries += 1
            stats.positive_moved += how == "moved"
            stats.positive_added += how == "added"
            if ex is None:
                stats.skipped_short += 1
                continue
            examples.append(ex)
    return examples, stats


@dataclass(frozen=True)
class ListSelection:
    """Which scored lists train, how long and how many (``Params.to_lists`` builds it from ``seed``, ``query_mix``
    and ``train``); every cap is a seeded sample, 0 keeps all."""

    query_mix: tuple[str, ...]
    list_length: int  # passages per list, positive included
    seed: int
    max_per_type: int  # training queries per query type
    max_train: int  # training queries in all, after the per-type cap
    max_dev: int  # dev queries in all


def load_lists(scored: Path, selection: ListSelection,
               doc_ids: set[str]) -> tuple[list[Example], list[Example], ListStats]:  # fmt: skip
    """The training and dev examples of the mix (:func:`load_examples`; a query id in both is an error), the training
    ones capped per type then in all, the dev ones in all (seeded samples, :func:`cap`); the training lists' stats."""
    s = selection
    seen: dict[str, Path] = {}  # a query id in two lists (train and dev) is an error
    train_ex, stats = load_examples(scored, s.query_mix, "train", s.list_length, doc_ids, seen)
    dev_ex, _ = load_examples(scored, s.query_mix, "dev", s.list_length, doc_ids, seen)
    train_ex = cap(cap_per_type(train_ex, s.max_per_type, s.seed), s.max_train, s.seed)
    return train_ex, cap(dev_ex, s.max_dev, s.seed), stats


def cap(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """A seeded sample of at most ``limit`` examples (0: all), kept in their original order."""
    if limit <= 0 or len(examples) <= limit:
        return examples
    keep = sorted(random.Random(seed).sample(range(len(examples)), limit))
    return [examples[i] for i in keep]


def cap_per_type(examples: list[Example], limit: int, seed: int) -> list[Example]:
    """At most ``limit`` examples of each query type (0: all): a seeded sample per type, in the original order."""
    if limit <= 0:
        return examples
    keep: set[int] = set()
    for query_type in sorted({e.query_type for e in examples}):
        rows = [i for i, e in enumerate(examples) if e.query_type == query_type]
        chosen = rows if len(rows) <= limit else random.Random(f"{seed}:{query_type}").sample(rows, limit)
        keep.update(chosen)
    return [examples[i] for i in sorted(keep)]


@dataclass
class Batch:
    """A batch of ``B`` lists padded to ``L``, passages deduplicated for encoding."""

    queries: list[str]  # (B,)
    passages: list[str]  # (U,) distinct passage texts
    passage_ids: list[str]  # (U,) their doc ids
    index: torch.Tensor  # (B * L,) long: column -> row of the passage embeddings
    doc_ids: torch.Tensor  # (B, L) long: equal ids = same passage; padding has unique negative ids
    teacher: torch.Tensor  # (B, L)
    valid: torch.Tensor  # (B, L) bool
    positive: torch.Tensor  # (B,) long
    query_type: str | None = None  # the batch's query type when all its queries share one


def make_batch(examples: Sequence[Example], texts: Mapping[str, str]) -> Batch:
    length = max(len(e.doc_ids) for e in examples)
    b = len(examples)
    rows: dict[str, int] = {}
    doc_ids = torch.arange(-1, -b * length - 1, -1).reshape(b, length)  # (B, L) padding ids, all distinct
    teacher = torch.zeros(b, length)
    valid = torch.zeros(b, length, dtype=torch.bool)
    for i, ex in enumerate(examples):
        for j, did in enumerate(ex.doc_ids):
            doc_ids[i, j] = rows.setdefault(did, len(rows))
            teacher[i, j] = ex.teacher[j]
            valid[i, j] = True
    return Batch(
        queries=[e.text for e in examples],
        passages=[texts[d] for d in rows],
        passage_ids=list(rows),
        index=doc_ids.clamp(min=0).reshape(-1),
        doc_ids=doc_ids,
        teacher=teacher,
        valid=valid,
        positive=torch.tensor([e.positive for e in examples]),
        query_type=examples[0].query_type if len({e.query_type for e in examples}) == 1 else None,
    )


def dev_batches(examples: Sequence[Example], batch_size: int, texts: Mapping[str, str]) -> list[Batch]:
    """Dev batches that never mix query types (types in order of first appearance), so that the dev loss can be
    broken down by type; in-batch negatives then come from queries of the same type."""
    by_type: dict[str, list[Example]] = {}
    for ex in examples:
        by_type.setdefault(ex.query_type, []).append(ex)
    return [make_batch(g[i : i + batch_size], texts) for g in by_type.values() for i in range(0, len(g), batch_size)]


def batch_scores(q: torch.Tensor, p: torch.Tensor, batch: Batch, threshold: float) -> Scores:
    """Scores of queries (B, d) against the batch's passages (U, d) laid out list by list."""
    dev = q.device
    student = q @ p[batch.index.to(dev)].T  # (B, B * L)
    negatives = negative_mask(batch.doc_ids, batch.teacher, batch.valid, batch.positive, threshold)  # (B, B * L)
    return Scores(student, batch.teacher.to(dev), batch.valid.to(dev), batch.positive.to(dev), negatives.to(dev),
                  batch.doc_ids.to(dev))  # fmt: skip


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]
