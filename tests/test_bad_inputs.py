"""A catalogue of bad inputs through the stage commands (issue 13): each is refused with exit code 1 (2 for a
click usage error), one ``Error:`` line naming the file and line or the param key and what was expected, no
traceback, and the stage's outputs byte-identical to before (or, on a first run, absent, with no staging folder
left). Plus a full disk in the middle of a stage's writes: the previous outputs survive.

One small BEIR folder, prepared and indexed once with a tiny BERT (tests/tiny_bert.py); each case corrupts a copy
of one input in its own tmp_path and runs one stage on it."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import small_disk, write_params
from tiny_bert import make_tiny_bert, one_thread

from listdistill.errors import disk
from stages import evaluate, generate, index, mine, mix, prepare, score, train

DOCS = [
    ("d1", "supersonic nozzle", "shock waves form in a supersonic nozzle when the back pressure rises"),
    ("d2", "boundary layer", "boundary layer transition over a flat plate with heat transfer"),
    ("d3", "panel flutter", "flutter of thin panels in a hypersonic flow"),
    ("d4", "shell buckling", "buckling of cylindrical shells under axial compression"),
    ("d5", "slender bodies", "lift of a slender body of revolution at small incidence"),
    ("d6", "separation", "laminar boundary layer separation ahead of a forward facing step"),
    ("d7", "wing flutter", "flutter speed of swept wings falls as the sweep angle increases"),
    ("d8", "rotating disk", "heat transfer from a rotating disk grows with the square root of its speed"),
]
QUERIES = [("q1", "shock waves in nozzles"), ("q2", "buckling of shells"), ("q3", "flutter of wings")]
QRELS = [("q1", "d1", 1), ("q2", "d4", 1), ("q3", "d7", 1), ("q3", "d3", 1)]

# Small everything: the tiny student, short lists, one epoch of batches of two, both towers trained (no index).
SETS = {
    "student.batch_size": 4, "mine.k": 6, "mine.round_trip_depth": 3, "score.depth": 4, "score.consistency": False,
    "score.dev_fraction": 0.3, "train.list_length": 4, "query_mix": ["questions"], "train.epochs": 1,
    "train.batch_size": 2, "train.chunk_size": 8, "train.tower": "both", "train.passage_max_length": 0,
    "train.max_dev_queries": 0, "evaluate.depth": 5,
}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def write_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    lines = [json.dumps({"_id": i, "title": t, "text": x}) for i, t, x in DOCS]
    (folder / "corpus.jsonl").write_text("".join(ln + "\n" for ln in lines))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in QUERIES))
    rows = "".join(f"{q}\t{d}\t{r}\n" for q, d, r in QRELS)
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return folder


def scored_record(i: int) -> dict:
    source = DOCS[i % len(DOCS)][0]
    others = [d for d, _, _ in DOCS if d != source][:3]
    cands = [{"doc_id": source, "teacher_score": 1.0, "raw_score": 3.0}] + [
        {"doc_id": d, "teacher_score": round(0.5 / (k + 1), 6), "raw_score": 1.0 / (k + 1)}
        for k, d in enumerate(others)
    ]
    return {"query_id": f"questions-{i}", "text": f"what about {DOCS[i % len(DOCS)][2][:24]}",
            "query_type": "questions", "source_doc_id": source, "candidates": cands}  # fmt: skip


def jsonl(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@dataclass(frozen=True)
class World:
    root: Path
    params: Path
    beir: Path
    tiny: Path
    prepared: Path
    index: Path
    generated: Path
    mixed: Path  # the mix stage's folder: questions/{train,dev}.jsonl


def invoke(command, args: list[object]):
    return CliRunner().invoke(command, [str(a) for a in args])


def write_inputs(root: Path, sets: dict[str, object]) -> tuple[Path, Path, Path]:
    """Under ``root``: the tiny student, the BEIR folder and a params file with ``sets`` that uses both."""
    tiny = make_tiny_bert(root / "tiny", pooling="mean")
    beir = write_beir(root / "beir")
    return tiny, beir, write_params(root, {**sets, "student.model": str(tiny), "dataset.name": str(beir)})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("bad_inputs")
    tiny, beir, params = write_inputs(root, SETS)
    with one_thread():
        r = invoke(prepare.main, ["--params", params, "--out", root / "prepared", "--stats", root / "prepare.json"])
        assert r.exit_code == 0, r.output
        r = invoke(
            index.main, ["--params", params, "--corpus", root / "prepared/corpus.jsonl", "--out", root / "index"]
        )
        assert r.exit_code == 0, r.output
    generated = jsonl(
        root / "generated.jsonl",
        [{"query_id": f"g{i}", "text": f"why {x[:30]}", "query_type": "questions", "source_doc_id": d}
         for i, (d, _, x) in enumerate(DOCS)],
    )  # fmt: skip
    mixed = root / "mix"
    jsonl(mixed / "questions" / "train.jsonl", [scored_record(i) for i in range(5)])
    jsonl(mixed / "questions" / "dev.jsonl", [scored_record(i) for i in range(5, 7)])
    return World(root, params, beir, tiny, root / "prepared", root / "index", generated, mixed)


# -- running a case --------------------------------------------------------------------------------------------------
def snapshot(paths: list[Path]) -> dict[str, str | None]:
    """sha256 of every file under each path (None: the path does not exist), and the staging folders beside them."""
    state: dict[str, str | None] = {}
    for path in paths:
        if not path.exists():
            state[str(path)] = None
        elif path.is_file():
            state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            for p in sorted(path.rglob("*")):
                state[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for stale in path.parent.glob(f".{path.name}.*"):  # .<name>.stage-* / .<name>.old-* left behind
            state[str(stale)] = "left behind"
    return state


@dataclass(frozen=True)
class Case:
    """``args(world, tmp)`` runs ``stage``; ``outs`` (relative to tmp, a trailing / for a folder) are its outputs;
    ``expect`` the substrings of the error line (``{tmp}``, ``{root}`` filled in); ``setup(world, tmp)`` writes
    the bad input; ``previous``: outputs exist before the run (else a first run)."""

    id: str
    stage: object
    args: Callable[[World, Path], list[object]]
    outs: tuple[str, ...]
    expect: tuple[str, ...]
    setup: Callable[[World, Path], None] | None = None
    code: int = 1
    previous: bool = True
    marks: tuple = field(default=())


def params(w: World, *sets: str) -> list[object]:
    return ["--params", w.params, *[a for s in sets for a in ("--set", s)]]


# The stages' usual arguments, outputs under tmp (the same names as `outs` below).
def prepare_args(*sets: str, beir: str | None = None):
    def make(w: World, tmp: Path) -> list[object]:
        extra = [f"dataset.name={tmp / beir}"] if beir else []
        return [*params(w, *extra, *sets), "--out", tmp / "prepared", "--stats", tmp / "prepare.json"]

    return make


PREPARE_OUTS = ("prepared/", "prepare.json")


def index_args(*sets: str, corpus: str | None = None, extra: tuple[str, ...] = ()):
    def make(w: World, tmp: Path) -> list[object]:
        c = tmp / corpus if corpus else w.prepared / "corpus.jsonl"
        return [*params(w, *sets), "--corpus", c, "--out", tmp / "index", *extra]

    return make


def mine_args(*sets: str, queries: str | None = None, index_dir: str | None = None, extra: tuple[str, ...] = ()):
    def make(w: World, tmp: Path) -> list[object]:
        q = tmp / queries if queries else w.generated
        i = tmp / index_dir if index_dir else w.index
        return [*params(w, *sets), "--queries", q, "--prepared", w.prepared, "--index", i,
                "--out", tmp / "mined", "--stats", tmp / "mine.json", *extra]  # fmt: skip

    return make


MINE_OUTS = ("mined/", "mine.json")


def score_args(*sets: str, candidates: str = "candidates.jsonl", index_dir: str | None = None):
    def make(w: World, tmp: Path) -> list[object]:
        i = tmp / index_dir if index_dir else w.index
        return [*params(w, *sets), "--candidates", tmp / candidates, "--corpus", w.prepared / "corpus.jsonl",
                "--index", i, "--out", tmp / "scored", "--stats", tmp / "score.json"]  # fmt: skip

    return make


SCORE_OUTS = ("scored/", "score.json")


def train_args(*sets: str, scored: str | None = None, index_dir: str | None = None):
    def make(w: World, tmp: Path) -> list[object]:
        s = tmp / scored if scored else w.mixed
        i = ["--index", tmp / index_dir] if index_dir else []
        return [*params(w, *sets), "--scored", s, "--corpus", w.prepared / "corpus.jsonl", *i,
                "--checkpoint-dir", tmp / "ckpt", "--out", tmp / "student", "--metrics", tmp / "train.json",
                "--curve", tmp / "curve.tsv", "--dev-curve", tmp / "dev.tsv"]  # fmt: skip

    return make


TRAIN_OUTS = ("student/", "train.json", "curve.tsv", "dev.tsv", "ckpt/")


def evaluate_args(*sets: str, student: str | None = None, prepared: str | None = None, index_dir: str | None = None):
    def make(w: World, tmp: Path) -> list[object]:
        s = ["--student", tmp / student] if student else []
        p, i = tmp / prepared if prepared else w.prepared, tmp / index_dir if index_dir else w.index
        return [*params(w, *sets), "--prepared", p, "--index", i, *s, "--no-teacher",
                "--out", tmp / "eval", "--metrics", tmp / "eval.json"]  # fmt: skip

    return make


EVAL_OUTS = ("eval/", "eval.json")


def generate_args(*sets: str, pool: str | None = None, query_type: str = "questions"):
    def make(w: World, tmp: Path) -> list[object]:
        p = tmp / pool if pool else w.prepared / "pool.jsonl"
        return [*params(w, *sets), "--query-type", query_type, "--pool", p, "--checkpoint-dir", tmp / "gen-ckpt",
                "--out", tmp / "generated", "--stats", tmp / "gen-stats"]  # fmt: skip

    return make


GENERATE_OUTS = ("generated/", "gen-stats/", "gen-ckpt/")


def mix_args(*sets: str, scored: str | None = None):
    def make(w: World, tmp: Path) -> list[object]:
        return [*params(w, *sets), "--scored", tmp / scored if scored else w.mixed, "--out", tmp / "mixed"]

    return make


# -- setups: one bad input each ----------------------------------------------------------------------------------------
def beir_copy(edit: Callable[[Path], None]) -> Callable[[World, Path], None]:
    """A copy of the BEIR folder at tmp/beir, changed by ``edit(folder)``."""

    def setup(w: World, tmp: Path) -> None:
        shutil.copytree(w.beir, tmp / "beir")
        edit(tmp / "beir")

    return setup


def replace_line(path: Path, n: int, text: str | bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[n - 1] = (text.encode() if isinstance(text, str) else text) + b"\n"
    path.write_bytes(b"".join(lines))


def write_file(name: str, content: str | bytes) -> Callable[[World, Path], None]:
    def setup(w: World, tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)

    return setup


def scored_folder(edit: Callable[[list[dict]], None]) -> Callable[[World, Path], None]:
    """tmp/mixbad/questions/{train,dev}.jsonl: the good lists with ``edit`` applied to the train records."""

    def setup(w: World, tmp: Path) -> None:
        shutil.copytree(w.mixed, tmp / "mixbad")
        records = [scored_record(i) for i in range(5)]
        edit(records)
        jsonl(tmp / "mixbad" / "questions" / "train.jsonl", records)

    return setup


def candidates(records: list[dict] | str) -> Callable[[World, Path], None]:
    text = records if isinstance(records, str) else "".join(json.dumps(r) + "\n" for r in records)
    return write_file("candidates.jsonl", text)


def mined_record(qid: str, cands: list[str]) -> dict:
    return {"query_id": qid, "text": "shock waves", "query_type": "questions", "source_doc_id": "d1",
            "candidates": cands}  # fmt: skip


def other_model_index(w: World, tmp: Path) -> None:
    shutil.copytree(w.index, tmp / "index-other")
    meta = json.loads((tmp / "index-other" / "corpus_emb.json").read_text())
    (tmp / "index-other" / "corpus_emb.json").write_text(json.dumps({**meta, "model": "pkg:other/model"}))


def truncated_model(w: World, tmp: Path) -> None:
    shutil.copytree(w.tiny, tmp / "broken")
    weights = tmp / "broken" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])


def not_a_model(w: World, tmp: Path) -> None:
    (tmp / "notes").mkdir()
    (tmp / "notes" / "README.txt").write_text("not a model\n")


def first_mine_part(w: World, tmp: Path) -> None:
    r = invoke(mine.main, mine_args(extra=("--shard", "0/2", "--queries-per-unit", "2"))(w, tmp))
    assert r.exit_code == 0, r.output


def generated_records(edit: Callable[[list[dict]], None]) -> Callable[[World, Path], None]:
    def setup(w: World, tmp: Path) -> None:
        records = [json.loads(ln) for ln in w.generated.read_text().splitlines()]
        edit(records)
        jsonl(tmp / "gen.jsonl", records)

    return setup


INVISIBLE_QUERY = '{"_id": "q2", "text": "\\u200b\\u00a0\\u2060"}'  # zero-width space, no-break space, word joiner


def qrels_lines(*lines: str) -> Callable[[World, Path], None]:
    """A BEIR copy whose qrels/test.tsv holds ``lines`` (no header unless one is given)."""
    return beir_copy(lambda f: (f / "qrels" / "test.tsv").write_text("".join(ln + "\n" for ln in lines)))


def prepared_copy(edit: Callable[[Path], None]) -> Callable[[World, Path], None]:
    """A copy of the prepared folder at tmp/prep, changed by ``edit(folder)``."""

    def setup(w: World, tmp: Path) -> None:
        shutil.copytree(w.prepared, tmp / "prep")
        edit(tmp / "prep")

    return setup


def index_copy(edit: Callable[[np.ndarray, dict], tuple[np.ndarray, dict]]) -> Callable[[World, Path], None]:
    """A copy of the index at tmp/idx whose embeddings and metadata are ``edit(rows, meta)``."""

    def setup(w: World, tmp: Path) -> None:
        shutil.copytree(w.index, tmp / "idx")
        rows, meta = edit(
            np.load(tmp / "idx" / "corpus_emb.npy"), json.loads((tmp / "idx" / "corpus_emb.json").read_text())
        )
        np.save(tmp / "idx" / "corpus_emb.npy", rows)
        (tmp / "idx" / "corpus_emb.json").write_text(json.dumps(meta))

    return setup


def drop_last_row(rows: np.ndarray, meta: dict) -> tuple[np.ndarray, dict]:
    """The index of a corpus without its last passage: rows and doc ids agree, the corpus has one more."""
    return rows[:-1], {**meta, "doc_ids": meta["doc_ids"][:-1]}


def nan_row(rows: np.ndarray, meta: dict) -> tuple[np.ndarray, dict]:
    rows = rows.copy()
    rows[2, 5] = np.nan
    return rows, meta


def swapped_ids(rows: np.ndarray, meta: dict) -> tuple[np.ndarray, dict]:
    ids = list(meta["doc_ids"])
    ids[0], ids[1] = ids[1], ids[0]
    return rows, {**meta, "doc_ids": ids}


def replace_text(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def params_file(text: str) -> Callable[[World, Path], None]:
    """tmp/p.yaml: the world's params with ``text`` appended (a key or section given again)."""

    def setup(w: World, tmp: Path) -> None:
        (tmp / "p.yaml").write_text(w.params.read_text() + text)

    return setup


def _set(records: list[dict], i: int, **changes: object) -> None:
    records[i].update(changes)


def _drop(records: list[dict], i: int, key: str) -> None:
    del records[i][key]


CASES = [
    # -- bad params: numbers, types, keys, choices, files, --set ---------------------------------------------------
    Case("train-batch-negative", train, train_args("train.batch_size=-1"), TRAIN_OUTS,
         ("train.batch_size: expected an integer >= 1, got -1", "{root}/params.yaml")),
    Case("train-epochs-zero", train, train_args("train.epochs=0"), TRAIN_OUTS, ("train.epochs: expected", "got 0")),
    Case("train-student-temperature-zero", train, train_args("train.student_temperature=0"), TRAIN_OUTS,
         ("train.student_temperature: expected a number > 0", "got 0")),
    Case("train-lr-string", train, train_args("train.lr=fast"), TRAIN_OUTS, ("train.lr: expected", "'fast'")),
    Case("mine-k-string", mine, mine_args("mine.k=many"), MINE_OUTS, ("mine.k: expected an integer", "'many'")),
    Case("score-depth-float", score, score_args("score.depth=2.5"), SCORE_OUTS, ("score.depth: expected an integer",),
         setup=candidates([mined_record("g0", ["d1", "d2"])])),
    Case("index-unknown-key", index, index_args("student.batch_sise=4"), ("index/",),
         ("student.batch_sise: unknown key; did you mean student.batch_size?",)),
    Case("mine-bad-choice", mine, mine_args("mine.round_trip_rule=all"), MINE_OUTS,
         ("mine.round_trip_rule: expected one of", "got 'all'")),
    Case("mix-ungenerated-type", mix, mix_args("query_mix=[faqs]"), ("mixed/",),
         ("query_mix: 'faqs' is not generated",), previous=False),
    Case("index-cuda-on-cpu", index, index_args("device=cuda"), ("index/",),
         ("device: 'cuda', but torch sees no CUDA GPU here",), marks=("no_cuda",)),
    Case("prepare-invalid-yaml", prepare, lambda w, t: ["--params", t / "bad.yaml", "--out", t / "prepared",
         "--stats", t / "prepare.json"], PREPARE_OUTS, ("{tmp}/bad.yaml:", "not valid YAML"),
         setup=write_file("bad.yaml", "seed: 1\ntrain: [epochs: 2\n")),
    Case("prepare-missing-params", prepare, lambda w, t: ["--params", t / "absent.yaml", "--out", t / "prepared",
         "--stats", t / "prepare.json"], PREPARE_OUTS, ("{tmp}/absent.yaml", "does not exist")),
    Case("prepare-params-not-a-mapping", prepare, lambda w, t: ["--params", t / "list.yaml", "--out", t / "prepared",
         "--stats", t / "prepare.json"], PREPARE_OUTS, ("{tmp}/list.yaml", "expected a mapping of sections"),
         setup=write_file("list.yaml", "- seed\n- 1\n")),
    Case("set-without-equals", evaluate, evaluate_args("evaluate.depth"), EVAL_OUTS,
         ("--set 'evaluate.depth': expected section.key=value",)),
    Case("set-invalid-yaml-value", train, train_args("query_mix=[questions"), TRAIN_OUTS,
         ("query_mix: expected a non-empty list of names, got '[questions'",)),
    Case("set-into-a-scalar", train, train_args("seed.value=1"), TRAIN_OUTS, ("--set 'seed.value=1'",)),
    Case("evaluate-depth-zero", evaluate, evaluate_args("evaluate.depth=0"), EVAL_OUTS,
         ("evaluate.depth: expected an integer >= 1, got 0",), previous=False),
    Case("generate-max-new-tokens-zero", generate, generate_args("generate.max_new_tokens=0"), GENERATE_OUTS,
         ("generate.max_new_tokens: expected an integer >= 1, got 0",)),
    Case("generate-unknown-type", generate, generate_args(query_type="faqs"), GENERATE_OUTS,
         ("unknown query type 'faqs'",)),
    # -- bad raw collections at prepare ------------------------------------------------------------------------------
    Case("prepare-empty-corpus", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl", "no documents"), setup=beir_copy(lambda f: (f / "corpus.jsonl").write_text(""))),
    Case("prepare-null-doc-id", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:3:", "null"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 3, '{"_id": null, "title": "", "text": "x"}'))),
    Case("prepare-empty-doc-id", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:2:", "_id"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 2, '{"_id": "", "title": "", "text": "x"}'))),
    Case("prepare-corpus-not-utf8", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:4:", "UTF-8"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 4, b'{"_id": "d4", "text": "caf\xe9"}'))),
    Case("prepare-queries-not-utf8", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:2:", "UTF-8"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 2, b'{"_id": "q2", "text": "\xff\xfe"}'))),
    Case("prepare-qrels-not-utf8", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:3:", "UTF-8"),
         setup=beir_copy(lambda f: replace_line(f / "qrels" / "test.tsv", 3, b"q2\td\xe94\t1"))),
    Case("prepare-query-empty-text", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:2:", "empty text", "dataset.drop_empty_queries"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 2, '{"_id": "q2", "text": "  "}'))),
    Case("prepare-qrels-unknown-doc", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:3:", "d99", "dataset.drop_unknown_judged_docs"),
         setup=beir_copy(lambda f: replace_line(f / "qrels" / "test.tsv", 3, "q2\td99\t1"))),
    Case("prepare-duplicate-doc-id", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:5:", "duplicate doc_id 'd1'"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 5, '{"_id": "d1", "title": "", "text": "again"}'))),
    Case("prepare-qrels-malformed-line", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:2:", "expected 3 tab-separated fields"),
         setup=beir_copy(lambda f: replace_line(f / "qrels" / "test.tsv", 2, "q1 d1"))),
    Case("prepare-qrels-bad-grade", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:4:", "high"),
         setup=beir_copy(lambda f: replace_line(f / "qrels" / "test.tsv", 4, "q3\td7\thigh"))),
    Case("prepare-queries-invalid-json", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:3:", "invalid JSON"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 3, '{"_id": "q3", "text": '))),
    Case("prepare-corpus-text-not-string", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:6:", "'text' must be a string"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 6, '{"_id": "d6", "text": ["a", "b"]}'))),
    Case("prepare-missing-folder", prepare, prepare_args(beir="nowhere"), PREPARE_OUTS, ("{tmp}/nowhere",),
         previous=False),
    # -- bad intermediate files ----------------------------------------------------------------------------------
    Case("mine-generated-missing-field", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl:3:", "source_doc_id"), setup=generated_records(lambda r: _drop(r, 2, "source_doc_id"))),
    Case("mine-generated-unknown-source", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl:5:", "expected 'source_doc_id' to be a doc id of the corpus, got 'd404'"),
         setup=generated_records(lambda r: _set(r, 4, source_doc_id="d404"))),
    Case("mine-generated-duplicate-id", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl:2:", "g0"), setup=generated_records(lambda r: _set(r, 1, query_id="g0"))),
    Case("mine-generated-empty", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl: expected generated queries, got an empty file",),
         setup=write_file("gen.jsonl", "")),
    Case("mine-index-without-embeddings", mine, mine_args(index_dir="idx"), MINE_OUTS, ("{tmp}/idx/corpus_emb.json",),
         setup=lambda w, t: shutil.copytree(w.index / "lucene", t / "idx" / "lucene")),
    Case("score-candidates-invalid-json", score, score_args(), SCORE_OUTS, ("{tmp}/candidates.jsonl:2:", "JSON"),
         setup=candidates(json.dumps(mined_record("g0", ["d1", "d2"])) + "\n{oops\n")),
    Case("score-candidates-empty-list", score, score_args(), SCORE_OUTS, ("{tmp}/candidates.jsonl:1:", "candidates"),
         setup=candidates([mined_record("g0", [])])),
    Case("score-candidates-empty-file", score, score_args(), SCORE_OUTS,
         ("{tmp}/candidates.jsonl: expected mined queries, got an empty file",),
         setup=candidates("")),
    Case("score-candidates-unknown-doc", score, score_args(), SCORE_OUTS,
         ("{tmp}/candidates.jsonl:1:", "expected candidate doc ids of the corpus, got 'd404'"),
         setup=candidates([mined_record("g0", ["d1", "d404"])])),
    Case("train-teacher-score-out-of-range", train, train_args(scored="mixbad"), TRAIN_OUTS,
         ("{tmp}/mixbad/questions/train.jsonl:2:", "teacher_score", "1.5"),
         setup=scored_folder(lambda r: r[1]["candidates"][2].update(teacher_score=1.5))),
    Case("train-scored-missing-candidates", train, train_args(scored="mixbad"), TRAIN_OUTS,
         ("{tmp}/mixbad/questions/train.jsonl:4:", "candidates"),
         setup=scored_folder(lambda r: _drop(r, 3, "candidates"))),
    Case("train-scored-unknown-doc", train, train_args(scored="mixbad"), TRAIN_OUTS,
         ("{tmp}/mixbad/questions/train.jsonl:1:", "expected candidate doc ids of the corpus, got 'd404'"),
         setup=scored_folder(lambda r: r[0]["candidates"][1].update(doc_id="d404"))),
    Case("train-query-mix-without-lists", train, train_args("query_mix=[claims]"), TRAIN_OUTS,
         ("{root}/mix/claims/train.jsonl", "no scored train lists for query type 'claims'")),
    Case("train-embeddings-of-another-model", train, train_args("train.tower=query", index_dir="index-other"),
         TRAIN_OUTS, ("{tmp}/index-other/corpus_emb.json", "pkg:other/model", "rerun the index stage"),
         setup=other_model_index),
    Case("index-truncated-safetensors", index, index_args("student.model={tmp}/broken"), ("index/",),
         ("{tmp}/broken", "model.safetensors"), setup=truncated_model),
    Case("index-corpus-invalid-json", index, index_args(corpus="corpus.jsonl"), ("index/",),
         ("{tmp}/corpus.jsonl:2:", "JSON"), setup=write_file("corpus.jsonl", '{"doc_id": "d1", "text": "a"}\n[1,\n')),
    Case("evaluate-student-not-a-model", evaluate, evaluate_args(student="notes"), EVAL_OUTS,
         ("--student {tmp}/notes", "not a model folder"), setup=not_a_model),
    Case("evaluate-student-truncated", evaluate, evaluate_args(student="broken"), EVAL_OUTS,
         ("{tmp}/broken", "model.safetensors"), setup=truncated_model),
    Case("mine-merge-missing-part", mine, mine_args(extra=("--merge", "2", "--queries-per-unit", "2")), MINE_OUTS,
         ("1 of 2 shard part(s)", "{tmp}/mined.shards/1-of-2"), setup=first_mine_part),
    Case("index-merge-no-parts", index, index_args(extra=("--merge", "2")), ("index/",),
         ("2 of 2 shard part(s)", "{tmp}/index.shards/0-of-2")),
    Case("generate-pool-missing-doc-id", generate, generate_args(pool="pool.jsonl"), GENERATE_OUTS,
         ("{tmp}/pool.jsonl:2:", "doc_id"),
         setup=write_file("pool.jsonl", '{"doc_id": "d1", "text": "a"}\n{"text": "b"}\n')),
    # -- issue 21: identity and uniqueness -----------------------------------------------------------------------------
    Case("prepare-duplicate-query-id", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:3:", "expected a unique query _id, 'q1' repeats {tmp}/beir/queries.jsonl:1"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 3, '{"_id": "q1", "text": "flutter again"}'))),
    Case("prepare-pair-judged-with-two-grades", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:3:", "('q1', 'd1') is judged 0 here and 1 at {tmp}/beir/qrels/test.tsv:2"),
         setup=qrels_lines("query-id\tcorpus-id\tscore", "q1\td1\t1", "q1\td1\t0", "q2\td4\t1")),
    Case("prepare-qrels-header-after-judgments", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:2:", "a header line after the first line"),
         setup=qrels_lines("q1\td1\t1", "query-id\tcorpus-id\tscore", "q2\td4\t1")),
    Case("prepare-doc-id-with-space", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:2:", "without whitespace, control or format characters", "space U+0020"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 2, '{"_id": "d 2", "title": "", "text": "x"}'))),
    Case("prepare-query-id-with-tab", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:2:", "U+0009"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 2, '{"_id": "q\\t2", "text": "shells"}'))),
    Case("prepare-doc-id-with-newline", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:3:", "U+000A"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 3, '{"_id": "d\\n3", "text": "panels"}'))),
    Case("prepare-doc-id-with-zero-width-space", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/corpus.jsonl:4:", "zero width space U+200B"),
         setup=beir_copy(lambda f: replace_line(f / "corpus.jsonl", 4, '{"_id": "d4\\u200b", "text": "shells"}'))),
    Case("prepare-qrels-id-with-control-character", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv:2:", "U+0001"),
         setup=qrels_lines("query-id\tcorpus-id\tscore", "q1\td\x011\t1")),
    Case("mine-generated-id-with-space", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl:2:", "'query_id' to be an id without whitespace"),
         setup=generated_records(lambda r: _set(r, 1, query_id="g 1"))),
    Case("evaluate-queries-duplicate-id", evaluate, evaluate_args(prepared="prep"), EVAL_OUTS,
         ("{tmp}/prep/queries.jsonl:2:", "expected a unique query_id, 'q1' repeats"),
         setup=prepared_copy(lambda f: replace_line(f / "queries.jsonl", 2, '{"query_id": "q1", "text": "again"}'))),
    Case("train-candidate-listed-twice", train, train_args(scored="mixbad"), TRAIN_OUTS,
         ("{tmp}/mixbad/questions/train.jsonl:2:", "expected each candidate once, 'd3' is listed 2 times"),
         setup=scored_folder(lambda r: r[1]["candidates"][3].update(doc_id="d3"))),
    Case("train-query-in-train-and-dev", train, train_args(scored="mixbad"), TRAIN_OUTS,
         ("{tmp}/mixbad/questions/dev.jsonl:1:", "'questions-5' is also at {tmp}/mixbad/questions/train.jsonl:1"),
         setup=scored_folder(lambda r: r.__setitem__(0, scored_record(5)))),
    Case("score-candidate-listed-twice", score, score_args(), SCORE_OUTS,
         ("{tmp}/candidates.jsonl:1:", "'d2' is listed 2 times"),
         setup=candidates([mined_record("g0", ["d1", "d2", "d2"])])),
    # -- issue 21: degenerate content ----------------------------------------------------------------------------------
    Case("prepare-query-text-invisible", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/queries.jsonl:2:", "query 'q2' has empty text"),
         setup=beir_copy(lambda f: replace_line(f / "queries.jsonl", 2, INVISIBLE_QUERY))),
    Case("prepare-all-judgments-grade-zero", prepare, prepare_args(beir="beir"), PREPARE_OUTS,
         ("{tmp}/beir/qrels/test.tsv", "expected at least one relevant judgment (grade > 0), got none among 4"),
         setup=qrels_lines("query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t0" for q, d, _ in QRELS))),
    Case("prepare-real-split-leaves-no-relevant-test-judgment", prepare,
         prepare_args("prepare.real_query_fraction=0.99"), PREPARE_OUTS,
         ("the test queries left by prepare.real_query_fraction", "expected at least one relevant judgment")),
    Case("generate-pool-passage-invisible", generate, generate_args(pool="pool.jsonl"), GENERATE_OUTS,
         ("{tmp}/pool.jsonl:2:", "'text' to be a non-empty string", "zero width space U+200B"),
         setup=write_file("pool.jsonl", '{"doc_id": "d1", "text": "a"}\n{"doc_id": "d2", "text": "\\u200b"}\n')),
    Case("evaluate-qrels-all-grade-zero", evaluate, evaluate_args(prepared="prep"), EVAL_OUTS,
         ("{tmp}/prep/qrels.txt", "expected at least one relevant judgment"),
         setup=prepared_copy(lambda f: (f / "qrels.txt").write_text(
             "".join(f"{q} 0 {d} 0\n" for q, d, _ in QRELS)))),
    # -- issue 21: params files ----------------------------------------------------------------------------------------
    Case("params-section-given-twice", train, lambda w, t: [*train_args()(w, t)[2:], "--params", t / "p.yaml"],
         TRAIN_OUTS, ("train: given twice, at {tmp}/p.yaml:", "keep one"), setup=params_file("train:\n  epochs: 3\n")),
    Case("params-key-given-twice", mine, lambda w, t: [*mine_args()(w, t)[2:], "--params", t / "p.yaml"], MINE_OUTS,
         ("seed: given twice, at {tmp}/p.yaml:1 and {tmp}/p.yaml:",), setup=params_file("seed: 7\n")),
    Case("train-query-mix-item-twice", train, train_args("query_mix=[questions,questions]"), TRAIN_OUTS,
         ("query_mix: expected a non-empty list of distinct names ('questions' is listed twice)",)),
    Case("mix-query-mix-item-twice", mix, mix_args("query_mix=[questions,questions]"), ("mixed/",),
         ("query_mix: expected a non-empty list of distinct names ('questions' is listed twice)",)),
    Case("generate-types-item-twice", generate, generate_args("generate.types=[claims,claims]"), GENERATE_OUTS,
         ("generate.types: expected a non-empty list of distinct names ('claims' is listed twice)",)),
    Case("mine-faiss-spec-with-other-bad-keys", mine, mine_args("mine.faiss_index=Bogus", "mine.k=many"), MINE_OUTS,
         ("2 invalid param(s)", "mine.faiss_index: invalid faiss index spec 'Bogus'", "mine.k: expected an integer")),
    Case("evaluate-faiss-setting-not-a-number", evaluate, evaluate_args("evaluate.faiss_index=HNSW ef_search=many"),
         EVAL_OUTS, ("evaluate.faiss_index: faiss index 'HNSW ef_search=many'",)),
    Case("evaluate-faiss-more-cells-than-passages", evaluate, evaluate_args("evaluate.faiss_index=IVF100,Flat"),
         EVAL_OUTS, ("faiss index 'IVF100,Flat': 100 IVF cells but only 8 vectors",)),
    Case("index-cuda-with-other-bad-keys", index, index_args("device=cuda:3", "student.batch_size=0"), ("index/",),
         ("2 invalid param(s)", "device: 'cuda:3', but torch sees", "student.batch_size: expected"),
         marks=("no_cuda",)),
    Case("train-lr-1e308", train, train_args("train.lr=1.0e+308"), TRAIN_OUTS,
         ("train.lr: expected a number <= 10, got 1e+308",)),
    Case("score-seed-2-to-the-31", score, score_args("seed=2147483648"), SCORE_OUTS,
         ("seed: expected an integer <= 2.14748e+09, got 2147483648",), setup=candidates([mined_record("g0", ["d1"])])),
    Case("index-unbounded-max-length", index, index_args("student.passage_max_length=2147483648"), ("index/",),
         ("student.passage_max_length: expected an integer <= 32768",)),
    Case("mine-k-beyond-float", mine, mine_args("mine.k=" + "9" * 400), MINE_OUTS,
         ("mine.k: expected an integer <= 100000",)),
    Case("train-epochs-infinite", train, train_args("train.weight_decay=.inf"), TRAIN_OUTS,
         ("train.weight_decay: expected a number >= 0, got inf",)),
    # -- issue 21: consumers check what they read --------------------------------------------------------------------
    Case("evaluate-embeddings-row-missing", evaluate, evaluate_args(index_dir="idx"), EVAL_OUTS,
         ("{tmp}/idx/corpus_emb.json: expected the embeddings of the corpus", "(8 passages, in corpus order), got 7",
          "row 7 is 'no row' where the corpus has 'd8'"), setup=index_copy(drop_last_row)),
    Case("evaluate-embeddings-nan-row", evaluate, evaluate_args(index_dir="idx"), EVAL_OUTS,
         ("{tmp}/idx/corpus_emb.npy: expected finite embeddings, row 2 (doc 'd3') holds NaN",),
         setup=index_copy(nan_row)),
    Case("evaluate-embeddings-in-another-order", evaluate, evaluate_args(index_dir="idx"), EVAL_OUTS,
         ("row 0 is 'd2' where the corpus has 'd1'",), setup=index_copy(swapped_ids)),
    Case("evaluate-embeddings-shape", evaluate, evaluate_args(index_dir="idx"), EVAL_OUTS,
         ("{tmp}/idx/corpus_emb.npy: expected float32 embeddings of shape (8, 32)", "got float64"),
         setup=index_copy(lambda rows, meta: (rows.astype(np.float64), meta))),
    Case("evaluate-qrels-doc-not-in-corpus", evaluate, evaluate_args(prepared="prep"), EVAL_OUTS,
         ("{tmp}/prep/qrels.txt:2:", "expected a doc id of the corpus, got 'd99'"),
         setup=prepared_copy(lambda f: replace_line(f / "qrels.txt", 2, "q2 0 d99 1"))),
    Case("mine-embeddings-nan-row", mine, mine_args(index_dir="idx"), MINE_OUTS,
         ("{tmp}/idx/corpus_emb.npy", "row 2 (doc 'd3') holds NaN or infinity"), setup=index_copy(nan_row)),
    Case("score-embeddings-of-another-corpus", score, score_args(index_dir="idx"), SCORE_OUTS,
         ("{tmp}/idx/corpus_emb.json: expected the embeddings of the corpus",),
         setup=lambda w, t: (candidates([mined_record("g0", ["d1", "d2"])])(w, t), index_copy(drop_last_row)(w, t))),
    Case("train-embeddings-row-missing", train, train_args("train.tower=query", index_dir="idx"), TRAIN_OUTS,
         ("{tmp}/idx/corpus_emb.json: expected the embeddings of", "got 7 rows"), setup=index_copy(drop_last_row)),
    Case("mix-list-of-another-type", mix, mix_args(scored="mixbad"), ("mixed/",),
         ("{tmp}/mixbad/questions/train.jsonl:3:", "'query_type' 'questions' (the folder's type), got 'claims'"),
         setup=scored_folder(lambda r: r[2].update(query_type="claims"))),
    Case("mine-qrels-doc-not-in-corpus", mine, lambda w, t: [*mine_args()(w, t)[:4], "--prepared", t / "prep",
         *mine_args()(w, t)[6:]], MINE_OUTS, ("{tmp}/prep/qrels.txt:3:", "expected a doc id of the corpus, got 'd77'"),
         setup=prepared_copy(lambda f: replace_line(f / "qrels.txt", 3, "q3 0 d77 1"))),
    Case("mine-duplicates-of-an-unknown-doc", mine, lambda w, t: [*mine_args()(w, t)[:4], "--prepared", t / "prep",
         *mine_args()(w, t)[6:]], MINE_OUTS,
         ("{tmp}/prep/duplicates.jsonl:1:", "expected doc ids of the corpus, got 'd66'"),
         setup=prepared_copy(lambda f: (f / "duplicates.jsonl").write_text(
             '{"doc_id": "d2", "duplicate_of": "d66", "reason": "exact"}\n'))),
    Case("mine-generated-text-lone-surrogate", mine, mine_args(queries="gen.jsonl"), MINE_OUTS,
         ("{tmp}/gen.jsonl:1:", "expected 'text' to be Unicode text, got a lone surrogate at character 4"),
         setup=write_file("gen.jsonl", '{"query_id": "g0", "text": "why\\ud800", "query_type": "questions", '
                                       '"source_doc_id": "d1"}\n')),
    Case("index-corpus-all-blank", index, index_args(corpus="corpus.jsonl"), ("index/",),
         ("{tmp}/corpus.jsonl: expected passages with text to index, got 2 without any",),
         setup=write_file("corpus.jsonl", '{"doc_id": "d1", "text": "\\u200b"}\n{"doc_id": "d2", "text": " "}\n')),
    # -- broken runs that must not exit 0 ----------------------------------------------------------------------------
    Case("train-loss-goes-non-finite", train, train_args("train.student_temperature=1.0e-30"), TRAIN_OUTS,
         ("training diverged at step 1", "gradient norm inf", "nothing was saved")),
    Case("usage-shard-and-merge", mine, mine_args(extra=("--shard", "1/2", "--merge", "2")), MINE_OUTS,
         ("exclude each other",), code=2),
]  # fmt: skip


def sentinel(path: Path, folder: bool) -> None:
    """A previous output: a folder with one file, or a file."""
    if folder:
        path.mkdir(parents=True)
        (path / "old.txt").write_text(f"previous {path.name}\n")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"previous {path.name}\n")


def case_params() -> list:
    out = []
    for c in CASES:
        marks = []
        if "no_cuda" in c.marks:
            import torch

            marks.append(pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present"))
        out.append(pytest.param(c, id=c.id, marks=marks))
    return out


@pytest.mark.parametrize("case", case_params())
def test_bad_input_is_refused_and_nothing_changes(world: World, tmp_path: Path, case: Case):
    if case.setup is not None:
        case.setup(world, tmp_path)
    outs = [tmp_path / o.rstrip("/") for o in case.outs]
    if case.previous:
        for o, name in zip(outs, case.outs, strict=True):
            if not o.exists():
                sentinel(o, name.endswith("/"))
    before = snapshot(outs)
    args = [str(a).format(tmp=tmp_path, root=world.root) for a in case.args(world, tmp_path)]
    result = CliRunner().invoke(case.stage.main, args)
    output = result.output
    assert result.exit_code == case.code, output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{output}"  # no traceback
    assert "Traceback" not in output
    errors = [ln for ln in output.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, output
    message = output[output.index("Error:") :]  # one line; a params file's invalid keys follow it, one a line
    assert message.count("\n") <= 1 or errors[0].endswith("invalid param(s):"), message
    for part in case.expect:
        assert part.format(tmp=tmp_path, root=world.root) in message, message
    assert snapshot(outs) == before
    if not case.previous:
        assert all(v is None for v in before.values())


def test_catalogue_is_large_and_ids_unique():
    assert len(CASES) >= 100 and len({c.id for c in CASES}) == len(CASES)


# -- a full disk in the middle of a stage's writes ---------------------------------------------------------------------
def big_beir(folder: Path) -> Path:
    """The BEIR folder with 40 more passages of about 10 KB each: 400 KB of corpus, more than the tiny disk holds."""
    write_beir(folder)
    extra = [json.dumps({"_id": f"big{i}", "title": "", "text": f"passage {i} " + "turbulent flow " * 700})
             for i in range(40)]  # fmt: skip
    with (folder / "corpus.jsonl").open("a") as f:
        f.write("".join(ln + "\n" for ln in extra))
    return folder


def run_prepare(w: World, dataset: Path, out: Path) -> object:
    args = ["--params", w.params, "--set", f"dataset.name={dataset}", "--out", out / "prepared",
            "--stats", out / "prepare.json"]  # fmt: skip
    return invoke(prepare.main, args)


def assert_full_disk_refused(result, out: Path, before: dict[str, str | None], where: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
    assert errors == [f"Error: No space left on device on {disk(out)} while writing {where}"], result.output
    assert snapshot([out / "prepared", out / "prepare.json"]) == before  # staging folders included: none left
    assert sorted(p.name for p in out.iterdir()) == ["prepare.json", "prepared"]


def test_prepare_on_a_full_disk_keeps_the_previous_outputs(world: World, tmp_path: Path):
    """A real 256 KiB tmpfs (root only): the previous outputs fit, the new 400 KB corpus does not."""
    with small_disk(tmp_path / "disk") as mount:
        assert run_prepare(world, world.beir, mount).exit_code == 0
        before = snapshot([mount / "prepared", mount / "prepare.json"])
        result = run_prepare(world, big_beir(tmp_path / "big"), mount)
        # the file the disk filled up on, by its final path (not the staging folder's, which is gone)
        assert_full_disk_refused(result, mount, before, f"{mount / 'prepared' / 'corpus.jsonl'}")


def test_prepare_with_injected_enospc_keeps_the_previous_outputs(world: World, tmp_path: Path, monkeypatch):
    """Anywhere: the disk fills up after the corpus and the queries are written, while writing the qrels."""
    import errno

    out = tmp_path / "out"
    assert run_prepare(world, world.beir, out).exit_code == 0
    before = snapshot([out / "prepared", out / "prepare.json"])
    written: list[str] = []

    def recording(real):
        def write(path, records):
            written.append(Path(path).name)
            return real(path, records)

        return write

    def full_disk(path, qrels):
        raise OSError(errno.ENOSPC, "No space left on device")  # no file name, as from f.write()

    import listdistill.data.prepare as writes  # the prepared folder's writers (the stage calls write_prepared)

    monkeypatch.setattr(writes, "write_docs", recording(writes.write_docs))
    monkeypatch.setattr(writes, "write_queries", recording(writes.write_queries))
    monkeypatch.setattr(writes, "write_qrels", full_disk)
    result = run_prepare(world, big_beir(tmp_path / "big"), out)
    assert written == ["corpus.jsonl", "queries.jsonl"]  # the failure came in the middle of the stage's writes
    assert_full_disk_refused(result, out, before, f"{out / 'prepared'}, {out / 'prepare.json'}")
