"""``Params``: the whole ``params.yaml``; its ``to_*`` methods build the library's own configs, every one with the
resolved device."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

if typing.TYPE_CHECKING:
    from listdistill.data import DatasetSpec
    from listdistill.encoder import EncoderConfig
    from listdistill.evaluate.proxy import ProxyConfig
    from listdistill.generate import GenerateConfig
    from listdistill.losses import LossConfig
    from listdistill.mine.candidates import MineConfig
    from listdistill.score.lists import ScoreConfig
    from listdistill.score.real import RealConfig
    from listdistill.teachers import TeacherConfig, TeacherResources
    from listdistill.train import TrainConfig
    from listdistill.train.data import ListSelection
from listdistill.config.sections import (
    SEED_MAX,
    Bm25Section,
    DatasetSection,
    EvaluateSection,
    GenerateSection,
    MineSection,
    PrepareSection,
    ProxySection,
    RealSection,
    ScoreSection,
    StudentSection,
    TeacherSection,
    TrainSection,
    _p,
)


@dataclass
class Params:
    seed: int = _p(42, "every random draw (sampling, shuffling, splits)", lo=0, cap=SEED_MAX)
    loss: str = _p("listwise", "listwise | listwise_in_batch | infonce | listwise+infonce | margin_mse (dvc exp run "
                   "-S loss=infonce)")  # fmt: skip
    query_mix: list[str] = _p(
        ["questions", "claims", "titles", "keywords", "search", "random", "sentences"],
        "query types whose scored lists train the student (real: the real-query arm)",
    )
    device: str = _p("auto", "every model-running stage: auto (a GPU when there is one) | cpu | cuda | cuda:N")
    dataset: DatasetSection = field(default_factory=DatasetSection)
    prepare: PrepareSection = field(default_factory=PrepareSection)
    proxy: ProxySection = field(default_factory=ProxySection)
    real: RealSection = field(default_factory=RealSection)
    generate: GenerateSection = field(default_factory=GenerateSection)
    student: StudentSection = field(default_factory=StudentSection)
    bm25: Bm25Section = field(default_factory=Bm25Section)
    mine: MineSection = field(default_factory=MineSection)
    teacher: TeacherSection = field(default_factory=TeacherSection)
    score: ScoreSection = field(default_factory=ScoreSection)
    train: TrainSection = field(default_factory=TrainSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)

    # -- the library configs, each with the resolved device ------------------------------------------------------
    def resolved_device(self) -> str:
        return resolve_device(self.device)

    def to_encoder(self) -> EncoderConfig:
        from listdistill.encoder import EncoderConfig

        device = self.resolved_device()
        dtype = self.student.dtype
        if dtype == "auto":
            dtype = "bfloat16" if native_bf16(device) else "float32"
        return EncoderConfig(**{**vars(self.student), "dtype": dtype}, normalize=True, device=device)

    def to_teacher(self, kind: str | None = None) -> TeacherConfig:
        from listdistill.teachers import TeacherConfig

        t = self.teacher
        return TeacherConfig(kind or t.kind, t.model, t.ensemble, t.normalise, t.batch_size, t.max_length,
                             device=self.resolved_device())  # fmt: skip

    def to_generate(self, query_type: str) -> GenerateConfig:
        from listdistill.generate import GenerateConfig

        g = vars(self.generate).copy()
        g.pop("types")
        g.pop("workers")
        return GenerateConfig(query_type, passages=g.pop("passages_per_type"), seed=self.seed,
                              device=self.resolved_device(), **g)  # fmt: skip

    def to_mine(self) -> MineConfig:
        from listdistill.mine.candidates import MineConfig

        m = self.mine
        return MineConfig(m.k, m.rrf_k, m.round_trip_depth, m.round_trip_rule)

    def to_score(self) -> ScoreConfig:
        from listdistill.score.lists import ScoreConfig

        return ScoreConfig(**vars(self.score), seed=self.seed)

    def to_resources(self, lucene_dir: Path | None, corpus_emb: Path | None, doc_ids: list[str],
                     student: EncoderConfig | None = None) -> TeacherResources:  # fmt: skip
        """What the retriever teachers need: the index's outputs, the student's settings (``student``: these
        instead of ``to_encoder()``'s) and BM25's."""
        from listdistill.teachers import TeacherResources

        return TeacherResources(lucene_dir, corpus_emb, doc_ids, student or self.to_encoder(), self.bm25.k1,
                                self.bm25.b)  # fmt: skip

    def to_dataset(self, cache_dir: str) -> DatasetSpec:
        from listdistill.data import DatasetSpec
        from listdistill.data.documents import Fields

        d = self.dataset
        return DatasetSpec(d.name, d.mirror or None, cache_dir, d.split, d.cranfield_relevance, d.drop_empty_queries,
                           d.drop_unknown_judged_docs, Fields(d.id_field, d.title_field, d.text_field), d.hf_split,
                           d.hf_config, d.queries, d.qrels)  # fmt: skip

    def to_real(self) -> RealConfig:
        from listdistill.score.real import RealConfig

        s = self.score
        return RealConfig(self.real.labels, s.depth, s.norm_low, s.norm_high, s.dev_fraction, self.seed)

    def to_proxy(self) -> ProxyConfig:
        from listdistill.evaluate.proxy import ProxyConfig

        s = self.score
        return ProxyConfig(s.depth, s.norm_low, s.norm_high, self.proxy.min_relevant)

    def to_losses(self, teacher_temperature: float) -> LossConfig:
        from listdistill.losses import LossConfig

        t = self.train
        return LossConfig(t.student_temperature, teacher_temperature, t.infonce_temperature, t.infonce_weight,
                          t.false_negative_threshold)  # fmt: skip

    def to_lists(self) -> ListSelection:
        """Which scored lists train: the query mix, the list length and the seeded caps."""
        from listdistill.train.data import ListSelection

        t = self.train
        return ListSelection(tuple(self.query_mix), t.list_length, self.seed, t.max_queries_per_type,
                             t.max_train_queries, t.max_dev_queries)  # fmt: skip

    def to_train(self, device: str, checkpoint_every: int) -> TrainConfig:
        """The optimisation on ``device`` (bf16 ``auto`` resolved for it); the teacher temperature is 0 when ``auto``
        (calibrated on the training lists later, ``listdistill.train.calibrate_teacher_temperature``)."""
        from listdistill.train import TrainConfig

        t = self.train
        fixed = 0.0 if t.teacher_temperature == "auto" else float(t.teacher_temperature)
        return TrainConfig(
            loss=self.loss, seed=self.seed, epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
            warmup_ratio=t.warmup_ratio, weight_decay=t.weight_decay, grad_clip=t.grad_clip, chunk_size=t.chunk_size,
            patience=t.patience, eval_every=t.eval_every, select_by=t.select_by,
            bf16=t.bf16 is True or (t.bf16 == "auto" and native_bf16(device)),
            gradient_checkpointing=t.gradient_checkpointing, max_steps=t.max_steps, tower=t.tower,
            wise_alpha=t.wise_alpha, checkpoint_every=checkpoint_every, losses=self.to_losses(fixed),
        )  # fmt: skip


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other values unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def native_bf16(device: str) -> bool:
    """True where bfloat16 matrix products run natively: a CUDA GPU that supports them, or a CPU with AMX or
    AVX512-BF16 (elsewhere torch emulates bf16, slower than float32)."""
    import torch

    if device.startswith("cuda"):
        try:
            return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
        except (AssertionError, RuntimeError):  # a CUDA runtime that cannot be queried
            return False
    if device != "cpu":
        return False
    checks = [getattr(torch.cpu, name, None) for name in ("_is_amx_tile_supported", "_is_avx512_bf16_supported")]
    return any(bool(check()) for check in checks if check is not None)
