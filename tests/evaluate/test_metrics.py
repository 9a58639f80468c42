from __future__ import annotations

import math

import pytest

from listdistill.evaluate.metrics import evaluate, paired_randomization, per_query
from listdistill.mine.fusion import rrf

QRELS = {"q1": {"a": 1, "c": 1}, "q2": {"x": 1}, "q3": {"z": 0}}  # q3 has no relevant doc: not evaluated
RUN = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"y": 1.0}}


def test_hand_checked_measures():
    m = evaluate(QRELS, RUN, ["nDCG@10", "RR@10", "R@2", "R@100"])
    # q1: rel at ranks 1 and 3 -> DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3) = 1.6309
    ndcg_q1 = 1.5 / (1 + 1 / math.log2(3))
    assert m["nDCG@10"] == pytest.approx(round(ndcg_q1 / 2, 4))  # q2 retrieves nothing relevant
    assert m["RR@10"] == 0.5
    assert m["R@2"] == 0.25 and m["R@100"] == 0.5


def test_missing_query_scores_zero():
    pq = per_query(QRELS, {"q1": RUN["q1"]}, ["RR@10"])
    assert pq["RR@10"] == {"q1": 1.0, "q2": 0.0}


def test_rrf_toy_example():
    a = {"q": {"d1": 9.0, "d2": 5.0, "d3": 1.0}}
    b = {"q": {"d3": 0.9, "d1": 0.8}}
    fused = rrf([a, b], k=60)["q"]
    assert fused["d1"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["d3"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["d2"] == pytest.approx(1 / 62)
    assert sorted(fused, key=lambda d: -fused[d]) == ["d1", "d3", "d2"]


def test_paired_randomization():
    a = {str(i): 0.6 + 0.01 * (i % 3) for i in range(40)}
    b = {str(i): 0.2 for i in range(40)}
    assert paired_randomization(a, b, trials=2000) < 0.01
    assert paired_randomization(a, a, trials=2000) == 1.0
