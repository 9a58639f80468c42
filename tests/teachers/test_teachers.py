"""Every teacher kind on tiny local models: batched scores equal per-pair ones, KV-cache reuse equals scoring
from scratch, the ensemble's normalisation and parsing, and reranking a run."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from factories import encoder_config, teacher_config, teacher_resources
from tiny_teachers import make_cross_encoder, make_llama, make_t5

from listdistill.records import Doc, Query
from listdistill.teachers import (
    KINDS,
    MODEL_KINDS,
    RETRIEVER_KINDS,
    TEACHERS,
    Candidates,
    Teacher,
    TeacherConfig,
    TeacherResources,
    build_teacher,
    member_kinds,
    register_teacher,
    rerank_run,
)
from listdistill.teachers.base import normalise_list
from listdistill.teachers.ensemble import EnsembleTeacher, parse_ensemble

DOCS = {
    d.doc_id: d
    for d in [
        Doc("d1", "Supersonic nozzles", "Shock waves form in a supersonic nozzle when the back pressure rises."),
        Doc("d2", "Plant biology", "Photosynthesis converts sunlight into chemical energy in leaves."),
        Doc("d3", "Monetary policy", "The central bank raised interest rates to curb inflation."),
        Doc("d4", "", "Laminar boundary layer heat transfer on a flat plate at high mach number, with pressure "
                      "gradient and wall cooling, compared with turbulent boundary layer measurements."),
        Doc("d5", "Shells", "Buckling of a cylinder shell."),
    ]
}  # fmt: skip
LISTS = [
    Candidates("q1", "shock wave in a supersonic nozzle", ("d1", "d4", "d2")),
    Candidates("q2", "interest rates and inflation", ("d3", "d1")),
    Candidates("q3", "boundary layer heat transfer", ("d4", "d5", "d1", "d2", "d3")),
    Candidates("q4", "buckling", ("d5",)),
]


class Fixed(Teacher):
    """Scores from a table keyed by (query_id, doc_id): a real, trivial teacher for testing the plumbing."""

    def __init__(self, table: dict[tuple[str, str], float], name: str = "fixed") -> None:
        self.table, self.name = table, name

    def score(self, lists, docs):
        return [np.array([self.table[(c.query_id, d)] for d in c.doc_ids], dtype=np.float64) for c in lists]


def flat(scores: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(scores)


# normalisation and ensembles ---------------------------------------------------------------------------------
def test_normalise_list_zscore_and_minmax():
    s = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(normalise_list(s, "zscore"), [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    np.testing.assert_allclose(normalise_list(s, "minmax"), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(normalise_list(np.array([4.0, 4.0]), "zscore"), [0.0, 0.0])
    np.testing.assert_array_equal(normalise_list(np.array([4.0]), "minmax"), [0.0])
    with pytest.raises(ValueError, match="normalisation"):
        normalise_list(s, "rank")


def test_parse_ensemble():
    kinds = ("bm25", "dense", "query_likelihood")
    assert parse_ensemble("0.7*bm25+0.3*dense", kinds) == [(0.7, "bm25"), (0.3, "dense")]
    assert parse_ensemble("bm25 + 2*query_likelihood", kinds) == [(1.0, "bm25"), (2.0, "query_likelihood")]
    for bad, msg in [("0.5*bm2", "unknown kind"), ("bm25+bm25", "repeats"), ("0*bm25", "nonzero"), ("x*bm25", "not")]:
        with pytest.raises(ValueError, match=msg):
            parse_ensemble(bad, kinds)


def test_ensemble_is_weighted_sum_of_per_list_normalised_scores():
    lists = [Candidates("q", "t", ("a", "b", "c"))]
    a = Fixed({("q", "a"): 10.0, ("q", "b"): 0.0, ("q", "c"): 5.0})
    b = Fixed({("q", "a"): 0.1, ("q", "b"): 0.3, ("q", "c"): 0.2})  # different scale: normalisation matters
    got = EnsembleTeacher([(0.25, a), (0.75, b)], "minmax").score(lists, {})[0]
    np.testing.assert_allclose(got, 0.25 * np.array([1.0, 0.0, 0.5]) + 0.75 * np.array([0.0, 1.0, 0.5]))


def test_teacher_config_rejects_bad_values():
    with pytest.raises(ValueError, match="unknown teacher kind"):
        teacher_config(kind="llm_judge")
    with pytest.raises(ValueError, match="unknown kind"):
        teacher_config(kind="ensemble", ensemble="0.5*bm25+0.5*colbert")
    with pytest.raises(ValueError, match="needs a model"):
        build_teacher(teacher_config(kind="cross_encoder"))
    with pytest.raises(ValueError, match="Lucene index"):
        build_teacher(teacher_config(kind="bm25"))


def test_rerank_run_orders_head_by_teacher_and_keeps_tail():
    base = {"q": {"a": 5.0, "b": 4.0, "c": 3.0, "d": 2.0}}
    teacher = Fixed({("q", "a"): 0.0, ("q", "b"): 2.0, ("q", "c"): 1.0})
    run = rerank_run(teacher, [Query("q", "text")], base, {}, depth=3)
    assert sorted(run["q"], key=run["q"].get, reverse=True) == ["b", "c", "a", "d"]
    assert list(rerank_run(teacher, [Query("q", "t")], base, {}, depth=3, keep_tail=False)["q"]) == ["b", "c", "a"]
    assert rerank_run(teacher, [Query("missing", "t")], base, {}, depth=3) == {}


# the registry --------------------------------------------------------------------------------------------------
class Constant(Teacher):
    """Every candidate scores ``value``: the smallest teacher a user might register."""

    name = "constant"

    def __init__(self, value: float) -> None:
        self.value = value

    def score(self, lists, docs):
        return [np.full(len(c.doc_ids), self.value) for c in lists]


def test_kinds_are_the_registry_in_the_usual_order():
    assert KINDS == tuple(TEACHERS) == (*MODEL_KINDS, *RETRIEVER_KINDS, "ensemble")
    assert member_kinds() == KINDS[:-1]


def test_a_registered_kind_is_a_valid_kind_and_ensemble_member_until_removed():
    @register_teacher("constant")
    def build_constant(config: TeacherConfig, resources: TeacherResources) -> Teacher:
        return Constant(float(config.batch_size))

    try:
        teacher = build_teacher(teacher_config(kind="constant", batch_size=3))
        assert isinstance(teacher, Constant)
        assert [s.tolist() for s in teacher.score(LISTS[1:2], DOCS)] == [[3.0, 3.0]]
        ensemble = build_teacher(teacher_config(kind="ensemble", ensemble="2*constant"))
        assert isinstance(ensemble, EnsembleTeacher)
        assert [(w, type(t)) for w, t in ensemble.members] == [(2.0, Constant)]
        with pytest.raises(ValueError, match="unknown teacher kind 'llm_judge'") as err:
            teacher_config(kind="llm_judge")
        assert str([*KINDS, "constant"]) in str(err.value)  # the error lists every registered kind
        with pytest.raises(ValueError, match="already registered"):
            register_teacher("constant")(build_constant)
    finally:
        del TEACHERS["constant"]
    assert tuple(TEACHERS) == KINDS
    with pytest.raises(ValueError, match=f"unknown teacher kind 'constant'; use one of {re.escape(str(list(KINDS)))}"):
        teacher_config(kind="constant")
    with pytest.raises(ValueError, match="unknown kind 'constant'"):
        teacher_config(kind="ensemble", ensemble="2*constant")
    with pytest.raises(ValueError, match="lower-case"):
        register_teacher("Bad-Kind")(build_constant)
    assert "Bad-Kind" not in TEACHERS


# first-stage retrievers as teachers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lucene_index(tmp_path_factory):
    from listdistill.index.lucene import build_index

    return build_index(list(DOCS.values()), tmp_path_factory.mktemp("idx") / "lucene")


def test_bm25_teacher_equals_bm25_search_scores(lucene_index):
    from listdistill.index.lucene import BM25

    teacher = build_teacher(teacher_config(kind="bm25"), teacher_resources(lucene_dir=lucene_index))
    run = BM25(lucene_index, 0.9, 0.4).search([c.query_id for c in LISTS], [c.text for c in LISTS], k=10)
    for c, scores in zip(LISTS, teacher.score(LISTS, DOCS), strict=True):
        for d, s in zip(c.doc_ids, scores, strict=True):
            assert s == pytest.approx(run[c.query_id].get(d, 0.0), rel=1e-4, abs=1e-4)  # 0 when no term matches
    assert teacher.score(LISTS, DOCS)[1][1] == 0.0  # "interest rates" shares no term with d1


def test_dense_teacher_is_student_cosine_with_or_without_corpus_embeddings(minilm):
    from listdistill.teachers.retrieval import DenseTeacher

    ids = sorted(DOCS)
    emb = minilm.encode_passages([DOCS[d].contents for d in ids])
    with_emb = DenseTeacher(minilm.config, emb, ids)
    without = DenseTeacher(minilm.config)
    a, b = flat(with_emb.score(LISTS, DOCS)), flat(without.score(LISTS, DOCS))
    np.testing.assert_allclose(a, b, atol=1e-5)
    q = minilm.encode_queries([LISTS[0].text])[0]
    np.testing.assert_allclose(a[:3], [q @ emb[ids.index(d)] for d in LISTS[0].doc_ids], atol=1e-5)
    assert np.argmax(a[:3]) == 0  # the nozzle passage for the nozzle query


# dense members with their own model reference -----------------------------------------------------------------
def test_ensemble_and_config_accept_dense_model_references():
    kinds = ("bm25", "dense", "query_likelihood")
    spec = "0.4*bm25+0.3*dense+0.3*dense:packaged:all-mpnet-base-v2"
    assert parse_ensemble(spec, kinds) == [(0.4, "bm25"), (0.3, "dense"), (0.3, "dense:packaged:all-mpnet-base-v2")]
    assert parse_ensemble("dense:/m/a+0.5*dense:/m/b", kinds) == [(1.0, "dense:/m/a"), (0.5, "dense:/m/b")]
    with pytest.raises(ValueError, match="repeats"):
        parse_ensemble("dense:/m/a+dense:/m/a", kinds)
    with pytest.raises(ValueError, match="unknown kind"):
        parse_ensemble("dense:/m/a", ("bm25",))
    teacher_config(kind="ensemble", ensemble=spec)
    teacher_config(kind="dense:packaged:all-mpnet-base-v2")
    with pytest.raises(ValueError, match="dense:<model-ref>"):
        teacher_config(kind="dense:")


def test_one_parser_for_mine_retrievers_and_teacher_members(monkeypatch):
    from listdistill.mine.candidates import parse_retrievers
    from listdistill.models import dense_member_config, dense_member_ref
    from listdistill.packaged import REGISTRY

    assert dense_member_ref("dense") is None and dense_member_ref("dense:packaged:x") == "packaged:x"
    for bad in ("dense:", "dense: ", "bm25", "densex"):
        with pytest.raises(ValueError):
            dense_member_ref(bad)
        if bad != "bm25":
            with pytest.raises(ValueError, match="unknown retriever"):
                parse_retrievers(f"bm25+{bad}")
    student = encoder_config(pooling="cls", query_prefix="q: ", batch_size=7)
    cfg = dense_member_config(student, "packaged:all-mpnet-base-v2")  # mean pooling, no prefixes, student's batch
    assert (cfg.model, cfg.pooling, cfg.query_prefix, cfg.passage_prefix, cfg.batch_size) == (
        "packaged:all-mpnet-base-v2", "mean", "", "", 7
    )  # fmt: skip
    nomic = REGISTRY["all-mpnet-base-v2"].__class__(
        **{**vars(REGISTRY["all-mpnet-base-v2"]), "name": "fake-nomic", "query_prefix": "search_query: ",
           "passage_prefix": "search_document: "}
    )  # fmt: skip
    monkeypatch.setitem(REGISTRY, "fake-nomic", nomic)
    cfg = dense_member_config(student, "packaged:fake-nomic")
    assert (cfg.query_prefix, cfg.passage_prefix) == ("search_query: ", "search_document: ")
    assert dense_member_config(student, "/some/folder").pooling == "auto"  # read from the model folder


@pytest.fixture(scope="module")
def tiny_cls_bert(tmp_path_factory):
    from tiny_bert import make_tiny_bert

    return make_tiny_bert(tmp_path_factory.mktemp("bert") / "m", pooling="cls", seed=3)


def test_dense_model_member_uses_its_pooling_encodes_each_passage_once_and_caches(
    tiny_cls_bert, tmp_path, single_thread
):
    from listdistill.encoder import Encoder

    res = teacher_resources(embedding_cache=tmp_path / "emb")
    kind = f"dense:{tiny_cls_bert}"
    teacher = build_teacher(teacher_config(kind=kind), res)
    assert teacher.name == kind and teacher.encoder.pooling == "cls"  # from the folder's 1_Pooling, not the student's
    encoded: list[str] = []
    real = teacher.encoder.encode_passages
    teacher.encoder.encode_passages = lambda texts, progress=None: (encoded.extend(texts), real(texts))[1]
    got = teacher.score(LISTS, DOCS)
    assert sorted(encoded) == sorted(DOCS[d].contents for d in {d for c in LISTS for d in c.doc_ids})  # once each
    ref = Encoder(encoder_config(model=str(tiny_cls_bert), pooling="cls"))
    for c, s in zip(LISTS, got, strict=True):
        q = ref.encode_queries([c.text])[0]
        np.testing.assert_allclose(s, ref.encode_passages([DOCS[d].contents for d in c.doc_ids]) @ q, atol=1e-5)
    # a new teacher (another process, another query type) reads every passage from the cache
    again = build_teacher(teacher_config(kind=kind), res)
    again.encoder.encode_passages = lambda texts, progress=None: pytest.fail(f"re-encoded {texts}")
    for a, b in zip(got, again.score(LISTS, DOCS), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert [p.suffix for p in (tmp_path / "emb").iterdir()] == [".npz"]  # no temporary left
    # other encoder settings are another cache entry
    other = build_teacher(teacher_config(kind=kind), teacher_resources(student=encoder_config(passage_max_length=8),
                                                                     embedding_cache=tmp_path / "emb"))  # fmt: skip
    other.score(LISTS[:1], DOCS)
    assert len(list((tmp_path / "emb").iterdir())) == 2


def test_ensemble_with_a_dense_model_member_is_the_weighted_sum(tiny_cls_bert, tmp_path, single_thread):
    res = teacher_resources(embedding_cache=None)
    kind = f"dense:{tiny_cls_bert}"
    member = build_teacher(teacher_config(kind=kind), res)
    table = {(c.query_id, d): float(i) for c in LISTS for i, d in enumerate(c.doc_ids)}
    ens = EnsembleTeacher([(0.25, Fixed(table)), (0.75, member)])
    for c, e, m in zip(LISTS, ens.score(LISTS, DOCS), member.score(LISTS, DOCS), strict=True):
        want = 0.25 * normalise_list(np.arange(len(c.doc_ids), dtype=float), "zscore")
        np.testing.assert_allclose(e, want + 0.75 * normalise_list(m, "zscore"), atol=1e-6)
    built = build_teacher(teacher_config(kind="ensemble", ensemble=f"1*{kind}"), res)
    assert [t.name for _, t in built.members] == [kind]


# cross-encoder ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_labels", [1, 2])
def test_cross_encoder_batched_equals_per_pair(tmp_path, num_labels):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = make_cross_encoder(tmp_path / "ce", num_labels=num_labels)
    teacher = build_teacher(teacher_config(kind="cross_encoder", model=str(folder), batch_size=3, max_length=64))
    got = flat(teacher.score(LISTS, DOCS))
    tok, model = AutoTokenizer.from_pretrained(folder), AutoModelForSequenceClassification.from_pretrained(folder)
    want = []
    with torch.inference_mode():
        for c in LISTS:
            for d in c.doc_ids:
                enc = tok(c.text, DOCS[d].contents, truncation=True, max_length=64, return_tensors="pt")
                logits = model(**enc).logits[0]
                want.append(float(logits[0] if num_labels == 1 else torch.log_softmax(logits, -1)[1]))
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(got) > 1e-4  # the scores differ across pairs, so the comparison means something
    if num_labels == 2:
        assert (got <= 0).all()  # log-probabilities


# T5 rerankers -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    return make_t5(tmp_path_factory.mktemp("t5"))


@pytest.mark.parametrize("kind", ["monot5", "rankt5"])
def test_t5_teachers_match_manual_first_step(tiny_t5, kind):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    teacher = build_teacher(teacher_config(kind=kind, model=str(tiny_t5), batch_size=2, max_length=64))
    got = flat(teacher.score(LISTS, DOCS))
    tok, model = AutoTokenizer.from_pretrained(tiny_t5), AutoModelForSeq2SeqLM.from_pretrained(tiny_t5)
    t_id, f_id, x_id = (tok.convert_tokens_to_ids(t) for t in ("true", "false", "<extra_id_10>"))
    want = []
    with torch.inference_mode():
        for c in LISTS:
            for d in c.doc_ids:
                text = f"Query: {c.text} Document: {DOCS[d].contents}" + (" Relevant:" if kind == "monot5" else "")
                enc = tok(text + "</s>", return_tensors="pt", add_special_tokens=False)
                logits = model(**enc, decoder_input_ids=torch.tensor([[tok.pad_token_id]])).logits[0, 0]
                want.append(float(torch.log_softmax(logits[[t_id, f_id]], -1)[0] if kind == "monot5" else logits[x_id]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)  # padding changes float32 sums slightly
    assert np.ptp(got) > 1e-2


def test_monot5_truncates_the_passage_not_the_suffix(tiny_t5):
    teacher = build_teacher(teacher_config(kind="monot5", model=str(tiny_t5), max_length=16))
    ids = teacher.encode("shock wave", DOCS["d4"].contents)
    tail = teacher.tokenizer(" Relevant:", add_special_tokens=False).input_ids + [teacher.tokenizer.eos_token_id]
    assert len(ids) == 16 and ids[-len(tail) :] == tail


# query likelihood ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_ql(tmp_path_factory):
    folder = make_llama(tmp_path_factory.mktemp("llama"))
    return build_teacher(teacher_config(kind="query_likelihood", model=str(folder), batch_size=2))


def test_query_likelihood_kv_reuse_equals_scratch(tiny_ql):
    """Passages of different lengths share a batch (left padding), serve 1-4 queries each, pair chunks cut
    across passages: every score equals one unbatched forward pass over prompt + query."""
    tiny_ql.config = type(tiny_ql.config)(**{**vars(tiny_ql.config), "pair_batch": 3})
    got = flat(tiny_ql.score(LISTS, DOCS))
    want = [tiny_ql.score_pair_from_scratch(c.text, DOCS[d].contents) for c in LISTS for d in c.doc_ids]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.ptp(got) > 1e-2  # the random LM is not uniform: scores differ
    assert (got < 0).all()  # mean log-probabilities


def test_query_likelihood_prompt_must_hold_the_passage():
    with pytest.raises(ValueError, match="passage"):
        build_teacher(teacher_config(kind="query_likelihood", model="unused", prompt="Question:"))


def test_ensemble_builds_members_from_one_config(tiny_ql, tmp_path):
    folder = make_cross_encoder(tmp_path / "ce")
    teacher = build_teacher(teacher_config(kind="ensemble", model=str(folder), ensemble="cross_encoder"))
    single = build_teacher(teacher_config(kind="cross_encoder", model=str(folder)))
    for e, s in zip(teacher.score(LISTS, DOCS), single.score(LISTS, DOCS), strict=True):
        np.testing.assert_allclose(e, normalise_list(s, "zscore"), atol=1e-6)


@pytest.mark.slow
def test_query_likelihood_kv_reuse_on_smollm2():
    teacher = build_teacher(teacher_config(kind="query_likelihood", batch_size=3))
    got = flat(teacher.score(LISTS[:3], DOCS))
    want = [teacher.score_pair_from_scratch(c.text, DOCS[d].contents) for c in LISTS[:3] for d in c.doc_ids]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.argmax(got[:3]) == 0  # the nozzle query is likeliest given the nozzle passage
