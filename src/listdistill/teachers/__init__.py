"""Teachers: models that score a query's candidate passages, behind one interface (:class:`Teacher`).

Kinds (``TeacherConfig.kind``):

* ``cross_encoder``: a sequence-classification reranker (online: ``cross-encoder/ms-marco-MiniLM-L-12-v2``,
  ``BAAI/bge-reranker-base``);
* ``monot5`` / ``rankt5``: T5 rerankers (online: ``castorini/monot5-base-msmarco``, ``Soyoung97/RankT5-base``);
* ``query_likelihood``: a causal LM's mean log P(query | passage prompt) (UPR), offline the packaged SmolLM2;
* ``bm25`` / ``dense``: the first-stage retrievers as scorers (exact Lucene BM25; zero-shot student cosine);
* ``dense:<model-ref>``: the cosine of another encoder, with that model's pooling and prefixes
  (``dense:packaged:all-mpnet-base-v2``); it encodes only the passages its lists need, each once: passage
  embeddings are cached under ``TeacherResources.embedding_cache`` keyed by the encoder settings and the text;
* ``ensemble``: a weighted sum of per-list normalised scores of the kinds above
  (``0.5*bm25+0.5*dense``, ``0.4*bm25+0.3*dense+0.3*dense:packaged:all-mpnet-base-v2``).

The model-based kinds read ``TeacherConfig.model``; an ensemble's model-based members share it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from listdistill.encoder import EncoderConfig
from listdistill.models import dense_member_config, dense_member_ref
from listdistill.teachers.base import Candidates, PairTeacher, Teacher, normalise_list, rerank_run
from listdistill.teachers.ensemble import EnsembleTeacher, parse_ensemble
from listdistill.teachers.query_likelihood import DEFAULT_PROMPT, QLConfig

MODEL_KINDS = ("cross_encoder", "monot5", "rankt5", "query_likelihood")
RETRIEVER_KINDS = ("bm25", "dense")
KINDS = (*MODEL_KINDS, *RETRIEVER_KINDS, "ensemble")

teacher_rerank_run = rerank_run  # the name the evaluate stage uses


@dataclass(frozen=True)
class TeacherConfig:
    kind: str = "ensemble"
    model: str = ""  # for the model-based kinds; empty: the packaged SmolLM2 for query_likelihood
    ensemble: str = "0.5*bm25+0.5*dense"  # members and weights when kind == "ensemble"
    normalise: str = "zscore"  # per-list normalisation of ensemble members: zscore | minmax
    batch_size: int = 16  # pairs per batch (cross-encoder, T5); prompts per batch (query likelihood)
    max_length: int = 512  # tokens per pair (cross-encoder, T5); passage tokens (query likelihood)
    prompt: str = DEFAULT_PROMPT  # query likelihood
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind.startswith("dense:"):
            dense_member_ref(self.kind)
        elif self.kind not in KINDS:
            raise ValueError(f"unknown teacher kind {self.kind!r}; use one of {list(KINDS)}")
        if self.kind == "ensemble":
            parse_ensemble(self.ensemble, KINDS[:-1])
        normalise_list(np.zeros(1), self.normalise)


@dataclass(frozen=True)
class TeacherResources:
    """What the retriever kinds need: the index stage's outputs and the student's settings."""

    lucene_dir: Path | None = None
    corpus_emb: Path | None = None  # (N, d) .npy aligned with doc_ids
    doc_ids: list[str] = field(default_factory=list)
    student: EncoderConfig = EncoderConfig()
    bm25_k1: float = 0.9
    bm25_b: float = 0.4
    embedding_cache: Path | None = Path(".cache/embeddings")  # passage embeddings of dense:<model-ref> members


def build_teacher(config: TeacherConfig, resources: TeacherResources = TeacherResources()) -> Teacher:
    """Instantiate the configured teacher (models are loaded here)."""
    if config.kind == "ensemble":
        members = [
            (w, build_teacher(_member(config, k), resources)) for w, k in parse_ensemble(config.ensemble, KINDS[:-1])
        ]
        return EnsembleTeacher(members, config.normalise)
    if config.kind == "bm25":
        if resources.lucene_dir is None:
            raise ValueError("the bm25 teacher needs the Lucene index (--index)")
        from listdistill.teachers.retrieval import BM25Teacher

        return BM25Teacher(resources.lucene_dir, resources.bm25_k1, resources.bm25_b)
    if config.kind == "dense":
        from listdistill.teachers.retrieval import DenseTeacher

        emb = np.load(resources.corpus_emb, mmap_mode="r") if resources.corpus_emb is not None else None
        return DenseTeacher(resources.student, emb, resources.doc_ids if emb is not None else None)
    if config.kind.startswith("dense:"):
        from listdistill.teachers.retrieval import DenseTeacher, EmbeddingCache

        encoder = dense_member_config(resources.student, dense_member_ref(config.kind))
        cache = EmbeddingCache(resources.embedding_cache, encoder) if resources.embedding_cache else None
        return DenseTeacher(encoder, cache=cache, name=config.kind)
    if config.kind == "query_likelihood":
        from listdistill.teachers.query_likelihood import QueryLikelihoodTeacher

        qc = QLConfig(prompt=config.prompt, passage_max_tokens=config.max_length, passage_batch=config.batch_size)
        return QueryLikelihoodTeacher(
            QLConfig(**{**vars(qc), "model": config.model or QLConfig.model, "device": config.device})
        )
    if not config.model:
        raise ValueError(f"the {config.kind} teacher needs a model (teacher.model), e.g. a hub id when online")
    if config.kind == "cross_encoder":
        from listdistill.teachers.cross_encoder import CrossEncoderTeacher

        return CrossEncoderTeacher(config.model, config.batch_size, config.max_length, config.device)
    from listdistill.teachers.t5 import T5Teacher

    return T5Teacher(config.model, config.kind, config.batch_size, config.max_length, config.device)


def _member(config: TeacherConfig, kind: str) -> TeacherConfig:
    return TeacherConfig(**{**vars(config), "kind": kind})


__all__ = [
    "KINDS",
    "Candidates",
    "PairTeacher",
    "Teacher",
    "TeacherConfig",
    "TeacherResources",
    "build_teacher",
    "rerank_run",
    "teacher_rerank_run",
]
