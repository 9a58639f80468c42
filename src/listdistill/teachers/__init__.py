"""Teachers: models that score a query's candidate passages, behind one interface (:class:`Teacher`).

Kinds (``TeacherConfig.kind``), each a builder in the :data:`TEACHERS` registry:

* ``cross_encoder``: a sequence-classification reranker (online: ``cross-encoder/ms-marco-MiniLM-L-12-v2``,
  ``BAAI/bge-reranker-base``);
* ``monot5`` / ``rankt5``: T5 rerankers (online: ``castorini/monot5-base-msmarco``, ``Soyoung97/RankT5-base``);
* ``query_likelihood``: a causal LM's mean log P(query | passage prompt) (UPR), offline the packaged SmolLM2;
* ``bm25`` / ``dense``: the first-stage retrievers as scorers (exact Lucene BM25; zero-shot student cosine);
* ``dense:<model-ref>`` (a prefix rule, not a registry entry): the cosine of another encoder, with that model's
  pooling and prefixes (``dense:packaged:all-mpnet-base-v2``); it encodes only the passages its lists need, each
  once: passage embeddings are cached under ``TeacherResources.embedding_cache`` keyed by the encoder settings and
  the text;
* ``ensemble``: a weighted sum of per-list normalised scores of the other registered kinds
  (``0.5*bm25+0.5*dense``, ``0.4*bm25+0.3*dense+0.3*dense:packaged:all-mpnet-base-v2``).

The model-based kinds read ``TeacherConfig.model``; an ensemble's model-based members share it.

A new kind is one builder, ``(TeacherConfig, TeacherResources) -> Teacher``, registered under the name users
type; it is then a valid ``teacher.kind`` and ensemble member::

    @register_teacher("constant")
    def _constant(config: TeacherConfig, resources: TeacherResources) -> Teacher:
        return ConstantTeacher()
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from listdistill.encoder import EncoderConfig
from listdistill.models import dense_member_config, dense_member_ref
from listdistill.teachers.base import Candidates, PairTeacher, Teacher, normalise_list, rerank_run
from listdistill.teachers.ensemble import EnsembleTeacher, parse_ensemble
from listdistill.teachers.query_likelihood import DEFAULT_MODEL, DEFAULT_PROMPT, QLConfig

MODEL_KINDS = ("cross_encoder", "monot5", "rankt5", "query_likelihood")
RETRIEVER_KINDS = ("bm25", "dense")

teacher_rerank_run = rerank_run  # the name the evaluate stage uses


@dataclass(frozen=True)
class TeacherConfig:
    """The teacher's settings. No defaults for what is a param: ``Params.to_teacher`` builds it from ``teacher``
    and ``device``."""

    kind: str
    model: str  # for the model-based kinds; empty: the packaged SmolLM2 for query_likelihood
    ensemble: str  # members and weights when kind == "ensemble"
    normalise: str  # per-list normalisation of ensemble members: zscore | minmax
    batch_size: int  # pairs per batch (cross-encoder, T5); prompts per batch (query likelihood)
    max_length: int  # tokens per pair (cross-encoder, T5); passage tokens (query likelihood)
    device: str
    prompt: str = DEFAULT_PROMPT  # query likelihood

    def __post_init__(self) -> None:
        if self.kind.startswith("dense:"):
            dense_member_ref(self.kind)
        elif self.kind not in TEACHERS:
            raise ValueError(f"unknown teacher kind {self.kind!r}; use one of {list(TEACHERS)}")
        if self.kind == "ensemble":
            parse_ensemble(self.ensemble, member_kinds())
        normalise_list(np.zeros(1), self.normalise)


@dataclass(frozen=True)
class TeacherResources:
    """What the retriever kinds need: the index stage's outputs and the student's settings (``Params.to_resources``
    builds it from ``student``, ``bm25`` and ``device``)."""

    lucene_dir: Path | None
    corpus_emb: Path | None  # (N, d) .npy aligned with doc_ids
    doc_ids: list[str]
    student: EncoderConfig
    bm25_k1: float
    bm25_b: float
    embedding_cache: Path | None = Path(".cache/embeddings")  # passage embeddings of dense:<model-ref> members


# -- the registry ------------------------------------------------------------------------------------------------
TeacherBuilder = Callable[[TeacherConfig, TeacherResources], Teacher]

TEACHERS: dict[str, TeacherBuilder] = {}  # kind -> builder, in registration order

_KIND_NAME = re.compile(r"^[a-z_0-9]+$")  # what an ensemble term can name (see parse_ensemble)


def register_teacher(*kinds: str) -> Callable[[TeacherBuilder], TeacherBuilder]:
    """Decorator: register ``builder`` under each of ``kinds`` (in order); the builder is returned unchanged.

    A kind is lower-case letters, digits and ``_`` (so it can be an ensemble member) and may not be registered
    twice; remove a kind with ``del TEACHERS[kind]``.
    """

    def register(builder: TeacherBuilder) -> TeacherBuilder:
        for kind in kinds:
            if not _KIND_NAME.match(kind):
                raise ValueError(f"teacher kind {kind!r} must be lower-case letters, digits and '_'")
            if kind in TEACHERS:
                raise ValueError(f"teacher kind {kind!r} is already registered")
            TEACHERS[kind] = builder
        return builder

    return register


def member_kinds() -> tuple[str, ...]:
    """The registered kinds an ensemble may combine: all but ``ensemble`` itself (``dense`` implies
    ``dense:<model-ref>``)."""
    return tuple(k for k in TEACHERS if k != "ensemble")


def build_teacher(config: TeacherConfig, resources: TeacherResources | None = None) -> Teacher:
    """Instantiate the configured teacher (models are loaded here); ``resources`` only for the kinds that need the
    index or the student (bm25, dense, dense:<ref>)."""
    if config.kind.startswith("dense:"):
        return _dense_model(config, _needs(resources, config.kind))
    try:
        builder = TEACHERS[config.kind]
    except KeyError:
        raise ValueError(f"unknown teacher kind {config.kind!r}; use one of {list(TEACHERS)}") from None
    return builder(config, resources)  # type: ignore[arg-type]  # a builder that needs them asks (_needs)


def _needs(resources: TeacherResources | None, kind: str) -> TeacherResources:
    if resources is None:
        raise ValueError(f"the {kind} teacher needs the index and the student's settings (TeacherResources)")
    return resources


# -- the built-in kinds, registered in the order of KINDS ---------------------------------------------------------
def _needs_model(config: TeacherConfig) -> str:
    if not config.model:
        raise ValueError(f"the {config.kind} teacher needs a model (teacher.model), e.g. a hub id when online")
    return config.model


@register_teacher("cross_encoder")
def _cross_encoder(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    model = _needs_model(config)
    from listdistill.teachers.cross_encoder import CrossEncoderTeacher

    return CrossEncoderTeacher(model, config.batch_size, config.max_length, config.device)


@register_teacher("monot5", "rankt5")
def _t5(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    model = _needs_model(config)
    from listdistill.teachers.t5 import T5Teacher

    return T5Teacher(model, config.kind, config.batch_size, config.max_length, config.device)


@register_teacher("query_likelihood")
def _query_likelihood(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    from listdistill.teachers.query_likelihood import QueryLikelihoodTeacher

    return QueryLikelihoodTeacher(
        QLConfig(
            device=config.device,
            model=config.model or DEFAULT_MODEL,
            prompt=config.prompt,
            passage_max_tokens=config.max_length,
            passage_batch=config.batch_size,
        )  # fmt: skip
    )


@register_teacher("bm25")
def _bm25(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    if resources is None or resources.lucene_dir is None:
        raise ValueError("the bm25 teacher needs the Lucene index (--index)")
    from listdistill.teachers.retrieval import BM25Teacher

    return BM25Teacher(resources.lucene_dir, resources.bm25_k1, resources.bm25_b)


@register_teacher("dense")
def _dense(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    from listdistill.teachers.retrieval import DenseTeacher

    resources = _needs(resources, "dense")
    emb = np.load(resources.corpus_emb, mmap_mode="r") if resources.corpus_emb is not None else None
    return DenseTeacher(resources.student, emb, resources.doc_ids if emb is not None else None)


def _dense_model(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    """``dense:<model-ref>``: a prefix rule rather than a registry entry (any model reference is a kind)."""
    from listdistill.teachers.retrieval import DenseTeacher, EmbeddingCache

    ref = dense_member_ref(config.kind)
    assert ref is not None  # only a bare "dense" gives None, and config.kind starts with "dense:"
    encoder = dense_member_config(resources.student, ref)
    cache = EmbeddingCache(resources.embedding_cache, encoder) if resources.embedding_cache else None
    return DenseTeacher(encoder, cache=cache, name=config.kind)


@register_teacher("ensemble")
def _ensemble(config: TeacherConfig, resources: TeacherResources) -> Teacher:
    members = [
        (w, build_teacher(_member(config, k), resources)) for w, k in parse_ensemble(config.ensemble, member_kinds())
    ]
    return EnsembleTeacher(members, config.normalise)


def _member(config: TeacherConfig, kind: str) -> TeacherConfig:
    return TeacherConfig(**{**vars(config), "kind": kind})


KINDS = tuple(TEACHERS)  # the built-in kinds: (*MODEL_KINDS, *RETRIEVER_KINDS, "ensemble"); TEACHERS is live

__all__ = [
    "KINDS",
    "MODEL_KINDS",
    "RETRIEVER_KINDS",
    "TEACHERS",
    "Candidates",
    "PairTeacher",
    "Teacher",
    "TeacherBuilder",
    "TeacherConfig",
    "TeacherResources",
    "build_teacher",
    "member_kinds",
    "register_teacher",
    "rerank_run",
    "teacher_rerank_run",
]
