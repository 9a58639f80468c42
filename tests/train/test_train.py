from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import small_disk
from factories import encoder_config, train_config
from tiny_bert import make_tiny_bert, one_thread

from listdistill.encoder import Encoder
from listdistill.io import FormatError
from listdistill.records import write_jsonl
from listdistill.train import (
    Checkpoints,
    Example,
    FrozenPassages,
    TrainState,
    build_example,
    cap,
    dev_batches,
    dev_losses,
    interpolate,
    linear_schedule,
    load_examples,
    make_batch,
    save_student,
    train,
)

TEXTS = {f"d{i}": t for i, t in enumerate(
    [
        "shock waves on a swept wing at supersonic speed",
        "boundary layer transition over a flat plate with heat transfer",
        "flutter of thin panels in a hypersonic flow",
        "buckling of cylindrical shells under axial compression",
        "lift of a slender body of revolution",
        "laminar boundary layer separation ahead of a step",
        "heat transfer to a blunt body in hypersonic flow",
        "vibration of a cantilever plate",
    ]
)}  # fmt: skip


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def record(qid: str, source: str, cands: list[tuple[str, float]], text: str = "a query") -> dict:
    return {
        "query_id": qid,
        "text": text,
        "query_type": "titles",
        "source_doc_id": source,
        "candidates": [{"doc_id": d, "teacher_score": s, "raw_score": 10 * s} for d, s in cands],
    }


def test_build_example_keeps_the_positive_in_the_list():
    cands = [("d1", 0.9), ("d2", 1.0), ("d3", 0.0), ("d4", 0.5)]
    ex, how = build_example(record("q", "d2", cands), "titles", 3, "f: record 1")
    assert how == "listed" and ex is not None
    assert ex.doc_ids == ("d1", "d2", "d3") and ex.positive == 1 and ex.teacher == (0.9, 1.0, 0.0)
    ex, how = build_example(record("q", "d4", cands), "titles", 3, "f: record 1")
    assert how == "moved" and ex is not None and ex.doc_ids == ("d1", "d2", "d4") and ex.teacher[2] == 0.5
    ex, how = build_example(record("q", "d7", cands), "titles", 3, "f: record 1")
    assert how == "added" and ex is not None and ex.doc_ids == ("d1", "d2", "d7") and ex.teacher[2] == 1.0
    assert build_example(record("q", "d1", [("d1", 1.0)]), "titles", 3, "f")[0] is None


def test_build_example_rejects_unnormalised_teacher_scores():
    with pytest.raises(FormatError, match=r"f: record 4: teacher_score 7.5 of 'd2' is not normalised"):
        build_example(record("q", "d1", [("d1", 1.0), ("d2", 7.5)]), "titles", 3, "f: record 4")


def test_load_examples_reads_the_mix_and_names_bad_inputs(tmp_path: Path):
    write_jsonl(tmp_path / "titles" / "train.jsonl", [record("t1", "d0", [("d0", 1.0), ("d1", 0.2)])])
    write_jsonl(tmp_path / "claims" / "train.jsonl", [{**record("c1", "d1", [("d2", 1.0), ("d1", 0.7)]),
                                                       "query_type": "claims"}])  # fmt: skip
    examples, stats = load_examples(tmp_path, ["claims", "titles"], "train", 4, set(TEXTS))
    assert [e.query_id for e in examples] == ["c1", "t1"] and stats.queries == 2
    with pytest.raises(FileNotFoundError, match=r"query type 'questions'; found types \['claims', 'titles'\]"):
        load_examples(tmp_path, ["questions"], "train", 4, set(TEXTS))
    write_jsonl(tmp_path / "bad" / "train.jsonl", [record("b1", "d0", [("d0", 1.0), ("nope", 0.1)])])
    with pytest.raises(FormatError, match=r"bad/train.jsonl:1: expected 'query_type' 'bad' \(the folder's type\)"):
        load_examples(tmp_path, ["bad"], "train", 4, set(TEXTS))
    write_jsonl(tmp_path / "bad" / "train.jsonl", [{**record("b1", "d0", [("d0", 1.0), ("nope", 0.1)]),
                                                    "query_type": "bad"}])  # fmt: skip
    with pytest.raises(FormatError, match=r"bad/train.jsonl:1: expected candidate doc ids of the corpus, got 'nope'"):
        load_examples(tmp_path, ["bad"], "train", 4, set(TEXTS))


def test_a_query_in_two_lists_is_an_error(tmp_path: Path):
    """The train and dev lists (and the types) share no query id: a query in both would leak into early stopping."""
    write_jsonl(tmp_path / "titles" / "train.jsonl", [record("t1", "d0", [("d0", 1.0), ("d1", 0.2)])])
    write_jsonl(
        tmp_path / "titles" / "dev.jsonl", [record("t2", "d1", [("d1", 1.0)]), record("t1", "d0", [("d0", 1.0)])]
    )
    seen: dict[str, Path] = {}
    load_examples(tmp_path, ["titles"], "train", 4, set(TEXTS), seen)
    message = (
        r"titles/dev\.jsonl:2: expected a query id unique across the lists, 't1' is also at .*titles/train\.jsonl:1"
    )
    with pytest.raises(FormatError, match=message):
        load_examples(tmp_path, ["titles"], "dev", 4, set(TEXTS), seen)


def test_cap_is_a_seeded_sample_in_order():
    items = [Example(str(i), "t", "x", ("a", "b"), (1.0, 0.0), 0) for i in range(20)]
    kept = cap(items, 5, seed=1)
    assert kept == cap(items, 5, seed=1) and len(kept) == 5
    assert [int(e.query_id) for e in kept] == sorted(int(e.query_id) for e in kept)
    assert cap(items, 0, seed=1) == items


def test_make_batch_deduplicates_passages_and_pads():
    examples = [
        Example("q1", "one", "t", ("d0", "d1", "d2"), (1.0, 0.5, 0.0), 0),
        Example("q2", "two", "t", ("d1", "d3"), (1.0, 0.2), 0),
    ]
    batch = make_batch(examples, TEXTS)
    assert batch.passages == [TEXTS["d0"], TEXTS["d1"], TEXTS["d2"], TEXTS["d3"]]
    assert batch.doc_ids.tolist() == [[0, 1, 2], [1, 3, -6]]  # padding gets a unique negative id
    assert batch.index.tolist() == [0, 1, 2, 1, 3, 0]
    assert batch.valid.tolist() == [[True, True, True], [True, True, False]]
    assert batch.positive.tolist() == [0, 0]


def test_linear_schedule_warms_up_then_decays():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, warmup=2, total=6)
    lrs = []
    for _ in range(6):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1 / 3, 2 / 3, 1.0, 0.75, 0.5, 0.25])


TRAIN = [
    Example("q0", "swept wing shock", "titles", ("d0", "d1", "d4"), (1.0, 0.3, 0.6), 0),
    Example("q1", "panel flutter", "titles", ("d2", "d3", "d7"), (1.0, 0.0, 0.5), 0),
    Example("q2", "heat transfer hypersonic", "claims", ("d1", "d6", "d2"), (0.8, 1.0, 0.4), 1),
    Example("q3", "shell buckling", "claims", ("d3", "d7", "d0"), (1.0, 0.2, 0.0), 0),
    Example("q4", "boundary layer separation", "titles", ("d5", "d1", "d6"), (1.0, 0.7, 0.1), 0),
]
DEV = [Example("v0", "slender body lift", "titles", ("d4", "d0", "d5"), (1.0, 0.4, 0.0), 0)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), dropout=0.1)


def test_dev_loss_is_broken_down_by_query_type(tiny: Path):
    encoder = Encoder(encoder_config(model=str(tiny)))
    batches = dev_batches(TRAIN, 2, TEXTS)  # titles q0 q1 | titles q4 | claims q2 q3: types never mixed
    assert [b.query_type for b in batches] == ["titles", "titles", "claims"]
    assert [len(b.queries) for b in batches] == [2, 1, 2]
    losses = dev_losses(encoder, batches, train_config(tower="both", chunk_size=4))
    for name in ("listwise", "infonce", "margin_mse"):
        weighted = (3 * losses[f"{name}@titles"] + 2 * losses[f"{name}@claims"]) / 5
        assert losses[name] == pytest.approx(weighted, abs=2e-6)  # the overall loss is the query-weighted mean
    assert losses["listwise@titles"] != losses["listwise@claims"]


def params(encoder: Encoder) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in encoder.model.state_dict().items()}


def test_train_runs_logs_and_keeps_the_best_epoch(tiny: Path, tmp_path: Path):
    encoder = Encoder(encoder_config(model=str(tiny)))
    before = params(encoder)
    cfg = train_config(tower="both", epochs=2, batch_size=2, lr=1e-3, chunk_size=4, checkpoint_every=100)
    state = train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "ckpt")
    assert state.finished and state.step == 6 and [r["step"] for r in state.curve] == [1, 2, 3, 4, 5, 6]
    assert [r["epoch"] for r in state.dev] == [0, 1, 2]  # epoch 0: the untrained student
    assert set(state.dev[0]) >= {"dev_loss", "dev_listwise", "dev_infonce", "dev_margin_mse", "dev_loss@titles"}
    assert state.best_epoch in (1, 2) and state.best_dev_loss == min(r["dev_loss"] for r in state.dev[1:])
    best = Checkpoints(tmp_path / "ckpt").load_best()
    assert best is not None
    after = params(encoder)
    assert all(torch.equal(after[k], best[k]) for k in best)  # the encoder holds the best weights
    assert any(not torch.equal(after[k], before[k]) for k in before)
    assert all(r["grad_norm"] > 0 for r in state.curve)


def test_early_stopping_when_the_dev_loss_stops_improving(tiny: Path, tmp_path: Path):
    encoder = Encoder(encoder_config(model=str(tiny)))
    cfg = train_config(
        tower="both", epochs=4, batch_size=3, lr=0.0, patience=1, chunk_size=8
    )  # lr 0: the dev loss stays put
    state = train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "ckpt")
    assert state.stopped_early and state.epoch == 2 and state.best_epoch == 1 and state.step == 4


def test_early_stopping_by_steps_mid_epoch(tiny: Path, tmp_path: Path):
    """``eval_every``: dev evaluations every N steps inside the epoch; patience counts evaluations."""
    encoder = Encoder(encoder_config(model=str(tiny)))
    cfg = train_config(
        tower="both", epochs=4, batch_size=2, lr=0.0, patience=1, eval_every=1, chunk_size=8
    )  # 3 steps an epoch
    state = train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "ckpt")  # lr 0: no evaluation improves on step 1's
    assert [(r["epoch"], r["step"]) for r in state.dev] == [(0, 0), (1, 1), (1, 2)]  # stopped inside epoch 1
    assert state.stopped_early and state.step == 2 and state.epoch == 1
    assert state.best_step == 1 and state.best_epoch == 1 and state.bad_epochs == 1


def test_step_evaluations_keep_the_best_step(tiny: Path, tmp_path: Path):
    encoder = Encoder(encoder_config(model=str(tiny)))
    cfg = train_config(
        tower="both", epochs=2, batch_size=2, lr=1e-3, patience=0, eval_every=2, chunk_size=4, checkpoint_every=100
    )
    state = train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "ckpt")
    assert [(r["epoch"], r["step"]) for r in state.dev] == [(0, 0), (1, 2), (1, 3), (2, 4), (2, 6)]
    best = min(state.dev[1:], key=lambda r: r["dev_loss"])
    assert (state.best_step, state.best_epoch, state.best_dev_loss) == (best["step"], best["epoch"], best["dev_loss"])
    best_folder = Checkpoints(tmp_path / "ckpt").current("best")  # the folder the checkpoint pointer names
    assert best_folder is not None
    saved = torch.load(best_folder / "model.pt", weights_only=True)
    assert all(torch.equal(encoder.model.state_dict()[k], saved[k]) for k in saved)


def test_interrupted_run_resumes_to_the_same_weights(tiny: Path, tmp_path: Path):
    # no dev set, so the run ends with its last weights (not the best epoch's) and steps 5-6 must match too
    cfg = train_config(tower="both", epochs=2, batch_size=2, lr=1e-3, chunk_size=4, checkpoint_every=2)
    straight = Encoder(encoder_config(model=str(tiny)))
    reference = train(straight, TRAIN, [], TEXTS, cfg, tmp_path / "a")

    def interrupt(state: TrainState) -> None:
        if state.step == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, cfg, tmp_path / "b", on_step=interrupt)
    last = Checkpoints(tmp_path / "b").current("last")
    assert last is not None and last.name.startswith("last-")
    saved = json.loads((last / "state.json").read_text())
    assert saved["step"] == 4 and saved["epoch"] == 1 and saved["batch"] == 1
    resumed = Encoder(encoder_config(model=str(tiny)))
    state = train(resumed, TRAIN, [], TEXTS, cfg, tmp_path / "b")
    assert state.resumed_at_step == 4 and state.step == 6
    assert state.curve == reference.curve  # same losses, learning rates and gradient norms, step by step
    a, b = params(straight), params(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a checkpoint of another run (here another config) is discarded, not resumed
    other_cfg = train_config(tower="both", epochs=1, batch_size=5, chunk_size=8)
    other = train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, other_cfg, tmp_path / "b")
    assert other.resumed_at_step is None and other.step == 1


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_saved_student_loads_in_sentence_transformers_and_encoder(tiny: Path, tmp_path: Path, pooling: str):
    from sentence_transformers import SentenceTransformer

    encoder = Encoder(encoder_config(model=str(tiny), pooling=pooling, passage_max_length=48))
    out = tmp_path / "student"
    save_student(encoder, out, {"note": "test"})
    assert json.loads((out / "training.json").read_text()) == {"note": "test"}
    texts = list(TEXTS.values())[:4]
    reloaded = Encoder(encoder_config(model=str(out)))
    assert reloaded.pooling == pooling
    ours = reloaded.encode_passages(texts)
    st = SentenceTransformer(str(out), device="cpu")
    assert st.max_seq_length == 48
    theirs = st.encode(texts, convert_to_numpy=True)
    assert ours.shape == theirs.shape == (4, 32)
    assert abs(float((theirs**2).sum(1).mean()) - 1.0) < 1e-5  # normalised
    torch.testing.assert_close(torch.from_numpy(theirs), torch.from_numpy(ours), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.from_numpy(ours), torch.from_numpy(encoder.encode_passages(texts)))


def frozen_table(encoder: Encoder) -> FrozenPassages:
    ids = sorted(TEXTS)
    return FrozenPassages(
        torch.from_numpy(encoder.encode_passages([TEXTS[d] for d in ids])), {d: i for i, d in enumerate(ids)}
    )


def test_query_tower_trains_queries_against_frozen_passages(tiny: Path, tmp_path: Path):
    from sentence_transformers import SentenceTransformer

    encoder = Encoder(encoder_config(model=str(tiny)))
    frozen = frozen_table(encoder)
    before = params(encoder)
    cfg = train_config(epochs=2, batch_size=2, lr=1e-3, chunk_size=4, tower="query")
    state = train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "ckpt", frozen=frozen)
    assert state.step == 6 and all(r["grad_norm"] > 0 for r in state.curve)
    assert any(not torch.equal(params(encoder)[k], before[k]) for k in before)  # the query tower moved
    with pytest.raises(ValueError, match="frozen passage embeddings"):
        train(encoder, TRAIN, DEV, TEXTS, cfg, tmp_path / "other")  # tower query without the table

    out = tmp_path / "student"
    save_student(encoder, out, {"tower": "query"}, passage_model=str(tiny))
    texts = list(TEXTS.values())[:4]
    reloaded = Encoder(encoder_config(model=str(out)))
    assert reloaded.two_towers
    zero_shot = Encoder(encoder_config(model=str(tiny)))
    # the passage tower is the untouched zero-shot model: its weights and embeddings are unchanged
    passage_weights = reloaded.passage_model.state_dict()
    assert all(torch.equal(passage_weights[k], before[k]) for k in before)
    torch.testing.assert_close(reloaded.encode_passages(texts), zero_shot.encode_passages(texts), rtol=0, atol=0)
    torch.testing.assert_close(reloaded.encode_queries(texts), encoder.encode_queries(texts), rtol=0, atol=1e-6)
    assert (reloaded.encode_queries(texts) != zero_shot.encode_queries(texts)).any()
    # sentence-transformers 6 loads the two towers: encode_query / encode_document
    st = SentenceTransformer(str(out), device="cpu")
    torch.testing.assert_close(st.encode_query(texts), reloaded.encode_queries(texts), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st.encode_document(texts), zero_shot.encode_passages(texts), atol=1e-5, rtol=1e-4)


def test_interpolate_is_wise_ft_exactly():
    zero = {"w": torch.tensor([0.0, 2.0]), "step": torch.tensor([3])}
    tuned = {"w": torch.tensor([4.0, 6.0]), "step": torch.tensor([5])}
    mixed = interpolate(zero, tuned, 0.25)
    assert torch.equal(mixed["w"], torch.tensor([1.0, 3.0])) and torch.equal(mixed["step"], torch.tensor([5]))
    assert torch.equal(interpolate(zero, tuned, 1.0)["w"], tuned["w"])
    assert torch.equal(interpolate(zero, tuned, 0.0)["w"], zero["w"])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        interpolate(zero, tuned, 1.5)


def test_training_with_wise_alpha_ends_between_zero_shot_and_tuned(tiny: Path, tmp_path: Path):
    cfg = train_config(tower="both", epochs=1, batch_size=2, lr=1e-3, chunk_size=4)
    tuned = Encoder(encoder_config(model=str(tiny)))
    zero = params(tuned)
    train(tuned, TRAIN, [], TEXTS, cfg, tmp_path / "a")
    mixed = Encoder(encoder_config(model=str(tiny)))
    train(mixed, TRAIN, [], TEXTS, dataclasses.replace(cfg, wise_alpha=0.5), tmp_path / "b")
    t, m = params(tuned), params(mixed)
    for k in zero:
        if zero[k].is_floating_point():
            torch.testing.assert_close(m[k], 0.5 * zero[k] + 0.5 * t[k], rtol=1e-5, atol=1e-6)


def test_diverging_training_stops_with_a_named_error_and_writes_nothing(tiny: Path, tmp_path: Path):
    cfg = train_config(tower="both", epochs=1, batch_size=2, lr=1e-3, chunk_size=4, loss="listwise",
                      losses={"student_temperature": 0.0})  # fmt: skip
    with pytest.raises(FloatingPointError, match=r"training diverged at step 1: loss nan"):
        train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, cfg, tmp_path / "ckpt")
    assert Checkpoints(tmp_path / "ckpt").current("best") is None


# -- checkpoints: a kill at any instant of a switch leaves one whole checkpoint; a full disk keeps the previous one --
def _save_last(ck: Checkpoints, step: int, width: int = 2) -> None:
    model = torch.nn.Linear(width, width)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ck.save_last(TrainState("fp", step=step), model, opt, linear_schedule(opt, 0, 10))


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_checkpoint_is_switched_by_one_pointer_and_leftovers_are_recovered(tmp_path: Path):
    folder = tmp_path / "ck"
    ck = Checkpoints(folder)
    _save_last(ck, 1)
    first = ck.current("last")
    assert first is not None and names(folder) == sorted([first.name, "last.json"])
    _save_last(ck, 2)
    second = ck.current("last")
    assert second is not None and second != first and names(folder) == sorted([second.name, "last.json"])
    # what kills at each instant leave: a half-written folder (before the switch), the superseded folder (after
    # it, before its removal), the pointer's temporary file (during the switch)
    (folder / "last-0badc0de").mkdir()
    (folder / "last-0badc0de" / "model.pt").write_bytes(b"cut short")
    shutil.copytree(second, folder / "last-00000001")
    (folder / ".last.json.x1y2.tmp").write_text('{"fold')
    loaded = ck.load_last("fp")
    assert loaded is not None and loaded[0].step == 2
    assert names(folder) == sorted([second.name, "last.json"])


@pytest.mark.parametrize("layout", ["old-only", "old-and-tmp", "final-and-old"])
def test_the_former_layouts_leftovers_resume_instead_of_failing(tmp_path: Path, layout: str):
    """The former rotation renamed last -> last.old, last.tmp -> last: a kill between the two left last.old, after
    which every rerun failed. Each state it could leave now resumes and the next save switches to the pointer."""
    folder = tmp_path / "ck"
    ck = Checkpoints(folder)
    _save_last(ck, 3)
    current = ck.current("last")
    assert current is not None
    (folder / "last.json").unlink()
    if layout == "final-and-old":
        current.rename(folder / "last")
        shutil.copytree(folder / "last", folder / "last.old")
    else:
        current.rename(folder / "last.old")
    if layout == "old-and-tmp":
        (folder / "last.tmp").mkdir()
        (folder / "last.tmp" / "model.pt").write_bytes(b"cut short")
    loaded = ck.load_last("fp")
    assert loaded is not None and loaded[0].step == 3
    assert names(folder) == (["last"] if layout == "final-and-old" else ["last.old"])
    _save_last(ck, 4)
    now = ck.current("last")
    assert now is not None and names(folder) == sorted([now.name, "last.json"])


def test_an_unreadable_checkpoint_is_discarded_and_training_starts_over(tiny: Path, tmp_path: Path, capsys):
    cfg = train_config(tower="both", epochs=1, batch_size=2, lr=1e-3, chunk_size=4, checkpoint_every=1)
    reference = train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, cfg, tmp_path / "a")

    def interrupt(state: TrainState) -> None:
        if state.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, cfg, tmp_path / "b", on_step=interrupt)
    last = Checkpoints(tmp_path / "b").current("last")
    assert last is not None
    (last / "optim.pt").write_bytes((last / "optim.pt").read_bytes()[:100])  # damaged
    state = train(Encoder(encoder_config(model=str(tiny))), TRAIN, [], TEXTS, cfg, tmp_path / "b")
    assert state.resumed_at_step is None and state.curve == reference.curve
    assert "unreadable checkpoint discarded, training starts over" in capsys.readouterr().err


def test_a_full_disk_while_saving_a_checkpoint_names_the_folder_and_keeps_the_previous(tmp_path: Path, monkeypatch):
    """Injected: safetensors and torch report a full disk in their own error types; the error becomes ENOSPC
    naming the checkpoint folder the user gave (not the half-written one, which is removed)."""
    from listdistill.errors import disk, user_message
    from listdistill.train import checkpoints

    folder = tmp_path / "ck"
    ck = Checkpoints(folder)
    _save_last(ck, 1)
    before = {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    def full(obj, path):
        raise RuntimeError(f"Error while serializing: IoError(Os {{ code: 28, kind: StorageFull }}) writing {path}")

    monkeypatch.setattr(checkpoints.torch, "save", full)
    with pytest.raises(OSError) as info:
        _save_last(ck, 2)
    assert user_message(info.value) == f"No space left on device on {disk(folder)} while writing {folder}"
    assert {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} == before


def test_a_real_full_disk_while_saving_a_checkpoint(tmp_path: Path):
    """A 256 KiB tmpfs (root only): torch.save's own write error becomes ENOSPC naming the folder."""
    from listdistill.errors import user_message

    with small_disk(tmp_path / "disk") as mount:
        ck = Checkpoints(mount / "ck")
        _save_last(ck, 1)
        before = {p.name: p.read_bytes() for p in sorted((mount / "ck").rglob("*")) if p.is_file()}
        with pytest.raises(OSError) as info:
            _save_last(ck, 2, width=512)  # 1 MiB of weights
        assert user_message(info.value) == f"No space left on device on {mount} (tmpfs) while writing {mount / 'ck'}"
        assert {p.name: p.read_bytes() for p in sorted((mount / "ck").rglob("*")) if p.is_file()} == before


def test_dev_agreement_ranks_the_whole_corpus_against_the_teachers_labels(minilm):
    """Query tower: the dev queries rank every frozen passage; nDCG@10 uses the teacher's list scores as gains."""
    import math

    from listdistill.train.data import dev_batches
    from listdistill.train.objective import dev_agreement
    from listdistill.train.towers import FrozenPassages

    texts = {
        "p0": "Laminar boundary layers separate under adverse pressure gradients.",
        "p1": "The bank raised interest rates to fight inflation.",
        "p2": "Shock waves on swept wings at transonic speeds.",
        "p3": "Plants turn sunlight into sugar by photosynthesis.",
    }
    ids = list(texts)
    emb = torch.from_numpy(minilm.encode_passages([texts[d] for d in ids]))  # (4, 384)
    frozen = FrozenPassages(emb, {d: i for i, d in enumerate(ids)})
    dev = [Example("v", texts["p2"], "titles", ("p2", "p0", "p1"), (1.0, 0.5, 0.0), 0)]  # the query is p2's text
    got = dev_agreement(minilm, dev_batches(dev, 4, texts), train_config(tower="both", chunk_size=4), frozen)
    order = (emb @ emb[2]).argsort(descending=True).tolist()  # the query embeds exactly like p2
    gains = {2: 1.0, 0: 0.5}
    dcg = sum(gains.get(r, 0.0) / math.log2(j + 2) for j, r in enumerate(order))
    assert order[0] == 2 and got["source_rr10"] == 1.0
    assert got["teacher_ndcg10"] == pytest.approx(dcg / (1.0 + 0.5 / math.log2(3)), abs=1e-6)
