"""The model card of the fine-tuned student (``models/student/README.md``), laid out as sentence-transformers
lays one out: YAML metadata (library, pipeline tag, tags, base model when it is a hub id), then *Model Details*,
*Usage*, *Evaluation* (the table of ``metrics/eval.json`` and what kind of evaluation it is), *Training Details*
(corpus, queries per type, teacher, loss and the params that matter) and *Framework Versions*.

:func:`model_card` is a pure function of the records the pipeline wrote, so the card is deterministic.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MEASURE_ORDER = ("nDCG@10", "R@100", "source_RR@10", "RR@10", "R@20")
NOT_SYSTEMS = ("evaluation", "student_vs_zero_shot_p", "hidden_judgments")  # the other keys of an eval block
TAGS = ("sentence-transformers", "sentence-similarity", "feature-extraction", "dense-retrieval", "listdistill")
PACKAGES = ("listdistill", "sentence-transformers", "transformers", "torch")
TRAIN_KEYS = ("lr", "epochs", "batch_size", "warmup_ratio", "weight_decay", "max_steps", "wise_alpha")
PICTURES = (
    ("systems.png", "Each system's mean with its 95% bootstrap interval"),
    ("difference.png", "Per-query nDCG@10, student minus zero-shot, sorted"),
    ("learning_curves.png", "Learning curves"),
)


@dataclass
class CardInputs:
    corpus: str  # dataset.name
    base_model: str  # the student's model reference
    dim: int
    query_max_length: int
    passage_max_length: int
    prepare: Mapping[str, Any]  # metrics/prepare.json
    train: Mapping[str, Any]  # metrics/train.json
    config: Mapping[str, Any]  # training.json's config (TrainConfig)
    evaluation: Mapping[str, Any]  # metrics/eval.json
    teacher: str
    generator: str
    pictures: Sequence[str] = ()  # files under plots/ that exist
    versions: Mapping[str, str] = field(default_factory=dict)


def versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    out = {}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def is_hub_id(ref: str) -> bool:
    return ref.count("/") == 1 and not ref.startswith((".", "/", "~", "pkg:", "packaged:"))


def metadata(c: CardInputs) -> str:
    lines = ["---", "library_name: sentence-transformers", "pipeline_tag: sentence-similarity", "tags:"]
    lines += [f"- {t}" for t in TAGS]
    if is_hub_id(c.base_model):
        lines.append(f"base_model: {c.base_model}")
    return "\n".join([*lines, "---"])


def table(block: Mapping[str, Any]) -> list[str]:
    """A Markdown table of one evaluation block's systems (rows) and measures (columns)."""
    systems = [k for k, v in block.items() if isinstance(v, dict) and k not in NOT_SYSTEMS]
    found = list(dict.fromkeys(m for s in systems for m in block[s]))
    measures = sorted(found, key=lambda m: (MEASURE_ORDER.index(m) if m in MEASURE_ORDER else len(MEASURE_ORDER), m))
    rows = ["| system | " + " | ".join(measures) + " |", "|---|" + "---|" * len(measures)]
    for s in systems:
        cells = [f"{block[s][m]:.4f}" if m in block[s] else "" for m in measures]
        rows.append(f"| {'**student**' if s == 'student' else s} | " + " | ".join(cells) + " |")
    p = block.get("student_vs_zero_shot_p")
    if isinstance(p, dict):
        rows.append("")
        tests = ", ".join(f"{m} p = {v}" for m, v in sorted(p.items()))
        rows.append(f"Paired randomization test, student vs zero-shot: {tests}.")
    return rows


def evaluation_section(ev: Mapping[str, Any], pictures: Sequence[str]) -> list[str]:
    e = ev.get("evaluation", {})
    lines = ["## Evaluation", ""]
    if e.get("kind") == "label-free":
        lines += [
            f"**What this is: {e.get('what')}.** The pipeline used no relevance judgments. A seeded set of "
            f"passages was held out of query generation; the generator wrote queries for them ({e.get('queries')} "
            "kept), and the teacher graded each query's candidates (the source passage 3, others 0-3 by the "
            "teacher's score). nDCG@10 and R@100 measure agreement with those grades, source_RR@10 how high the "
            "source passage ranks. A gain here means the student agrees more with its teacher on queries like its "
            "training queries; it does not prove that users' searches improve.",
            "",
        ]
    elif e.get("kind") == "judgments":
        lines += [f"On {e.get('queries')} judged test queries ({e.get('aggregation')}).", ""]
    else:
        lines += ["Not evaluated: no judgments and no held-out passages.", ""]
    if e.get("kind") in ("label-free", "judgments"):
        lines += table(ev)
    hidden = ev.get("hidden_judgments")
    if isinstance(hidden, dict):
        he = hidden.get("evaluation", {})
        lines += ["", f"### Hidden judgments ({he.get('queries')} queries, {he.get('aggregation')})", ""]
        lines += ["The collection's own judgments, hidden from the pipeline (`dataset.judgments: hide`):", ""]
        lines += table(hidden)
    for name, caption in PICTURES[:2]:
        if name in pictures:
            lines += ["", f"![{caption}](plots/{name})"]
    return lines


def training_section(c: CardInputs) -> list[str]:
    t, cfg, prep = c.train, c.config, c.prepare
    by_type = t.get("train_queries_by_type", {})
    passages = f", {prep.get('passages')} passages" if "passages" in prep else ""
    lines = ["## Training Details", "", "### Training Dataset", ""]
    documents = prep.get("documents", prep.get("docs"))
    lines += [f"- **Corpus:** `{c.corpus}`, {documents} documents{passages}"]
    lines += [f"- **Synthetic training queries:** {t.get('train_queries')} (dev {t.get('dev_queries')}), by type:"]
    lines += [f"  - {k}: {v}" for k, v in sorted(by_type.items())]
    lines += [f"- **Generator:** `{c.generator}`", f"- **Teacher:** {c.teacher}", ""]
    losses = cfg.get("losses", {})
    lines += ["### Training Hyperparameters", "",
              f"- **Loss:** `{t.get('loss')}` (student temperature {losses.get('student_temperature')}, teacher "
              f"temperature {t.get('teacher_temperature')})",
              f"- **Tower:** `{t.get('tower')}`",
              f"- **List length:** {t.get('list_length')}",
              f"- **Steps:** {t.get('steps')} ({t.get('epochs')} epochs, best {t.get('best_epoch')})"]  # fmt: skip
    lines += [f"- **{k}:** {cfg[k]}" for k in TRAIN_KEYS if k in cfg]
    if "learning_curves.png" in c.pictures:
        lines += ["", "![Learning curves](plots/learning_curves.png)"]
    return lines


def model_card(c: CardInputs) -> str:
    """The card's Markdown text."""
    towers = c.train.get("tower") == "query"
    kind = "Sentence Transformer (a Router of two towers: fine-tuned queries, untouched documents)" if towers else (
        "Sentence Transformer")  # fmt: skip
    lines = [
        metadata(c),
        "",
        f"# A retriever specialised to `{c.corpus}`",
        "",
        f"This is a [sentence-transformers](https://www.SBERT.net) model fine-tuned from `{c.base_model}` on "
        f"synthetic queries for the corpus `{c.corpus}` with listwise distillation from a teacher "
        f"(listdistill). It maps sentences and passages to a {c.dim}-dimensional "
        "dense vector space and can be used for semantic search.",
        "",
        "## Model Details",
        "",
        "### Model Description",
        f"- **Model Type:** {kind}",
        f"- **Base model:** `{c.base_model}`",
        f"- **Maximum Sequence Length:** {c.query_max_length} tokens (queries), {c.passage_max_length} (documents)",
        f"- **Output Dimensionality:** {c.dim} dimensions",
        "- **Similarity Function:** Cosine Similarity",
        f"- **Training Dataset:** `{c.corpus}`",
        "",
        "## Usage",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "",
        'model = SentenceTransformer("models/student")',
        'queries = model.encode_query(["what is a wing in a slipstream"])',
        'documents = model.encode_document(["An experimental study of a wing in a propeller slipstream."])',
        "print(model.similarity(queries, documents))",
        "```",
        "",
        *evaluation_section(c.evaluation, c.pictures),
        "",
        *training_section(c),
        "",
        "## Framework Versions",
        *[f"- {name}: {version}" for name, version in c.versions.items()],
        "",
    ]
    return "\n".join(lines)
