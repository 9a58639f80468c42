from __future__ import annotations

import math

import pytest
import torch
from factories import loss_config

from listdistill.losses import (
    LOSSES,
    Scores,
    get_loss,
    infonce,
    listwise_kl,
    margin_mse,
    negative_mask,
)


def test_listwise_uniform_scores_give_zero():
    student = torch.full((3, 5), 0.4)
    teacher = torch.full((3, 5), 0.7)
    valid = torch.ones(3, 5, dtype=torch.bool)
    assert listwise_kl(student, teacher, valid, 0.05, 0.3).item() == pytest.approx(0.0, abs=1e-7)


def test_listwise_minimised_when_student_matches_teacher_after_temperatures():
    torch.manual_seed(0)
    teacher = torch.rand(4, 6)  # (B, L) in [0, 1]
    valid = torch.ones(4, 6, dtype=torch.bool)
    matched = (teacher * 0.05 / 0.3).requires_grad_(True)  # student / 0.05 == teacher / 0.3
    loss = listwise_kl(matched, teacher, valid, student_temperature=0.05, teacher_temperature=0.3)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert matched.grad is not None and matched.grad.abs().max().item() < 1e-5
    for _ in range(5):
        other = matched.detach() + 0.01 * torch.randn(4, 6)
        assert listwise_kl(other, teacher, valid, 0.05, 0.3) > loss
    # without the temperature adjustment the raw teacher scores are not the optimum
    assert listwise_kl(teacher, teacher, valid, 0.05, 0.3) > 1e-3


def test_listwise_ignores_padding():
    teacher = torch.tensor([[1.0, 0.5, 0.0, 0.9]])
    student = torch.tensor([[0.8, 0.4, 0.1, -5.0]])
    full = torch.tensor([[True, True, True, False]])
    assert listwise_kl(student, teacher, full, 0.05, 0.3).item() == pytest.approx(
        listwise_kl(student[:, :3], teacher[:, :3], full[:, :3], 0.05, 0.3).item(), abs=1e-6
    )


def test_infonce_uniform_scores_give_log_n():
    b, n = 2, 8
    student = torch.full((b, n), 0.3)
    negatives = torch.ones(b, n, dtype=torch.bool)
    positive = torch.tensor([0, 4])
    negatives[torch.arange(b), positive] = False
    negatives[1, 6] = False  # a masked false negative: one fewer competitor for query 1
    loss = infonce(student, positive, negatives, temperature=0.01)
    assert loss.item() == pytest.approx((math.log(8) + math.log(7)) / 2, abs=1e-5)


def test_infonce_exact_value_and_masked_columns_do_not_matter():
    student = torch.tensor([[0.9, 0.5, 0.8, 0.1]])  # (1, 4)
    negatives = torch.tensor([[False, True, False, True]])  # column 2 masked
    loss = infonce(student, torch.tensor([0]), negatives, temperature=0.1)
    expected = -math.log(math.exp(9) / (math.exp(9) + math.exp(5) + math.exp(1)))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    changed = student.clone()
    changed[0, 2] = 5.0
    assert infonce(changed, torch.tensor([0]), negatives, temperature=0.1).item() == pytest.approx(loss.item())


def test_negative_mask_false_negatives_and_shared_positives():
    # two queries, lists of 3; query 1's positive is doc 7, which is also in query 0's list
    doc_ids = torch.tensor([[5, 6, 7], [7, 8, -1]])  # (B, L), -1 is padding
    teacher = torch.tensor([[1.0, 0.7, 0.2], [1.0, 0.3, 0.0]])
    valid = torch.tensor([[True, True, True], [True, True, False]])
    positive = torch.tensor([0, 0])
    mask = negative_mask(doc_ids, teacher, valid, positive, threshold=0.6)  # (2, 6)
    # query 0: itself (5) no; 6 above 0.6 x top is a false negative; 7 is a negative, counted once (column 2)
    assert mask[0].tolist() == [False, False, True, False, True, False]
    # query 1: its positive 7 is masked wherever it appears (column 2 in query 0's list); padding never counts
    assert mask[1].tolist() == [True, True, False, False, True, False]


def test_margin_mse_zero_when_margins_match():
    teacher = torch.tensor([[1.0, 0.2, 0.6], [0.3, 1.0, 0.0]])
    positive = torch.tensor([0, 1])
    valid = torch.ones(2, 3, dtype=torch.bool)
    assert margin_mse(teacher + 0.25, teacher, positive, valid).item() == pytest.approx(0.0, abs=1e-7)
    student = torch.tensor([[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]])
    # margins: row 0 teacher 0.8, 0.4; row 1 teacher 0.7, 1.0; student all 0
    expected = (0.8**2 + 0.4**2 + 0.7**2 + 1.0**2) / 4
    assert margin_mse(student, teacher, positive, valid).item() == pytest.approx(expected, rel=1e-6)


def test_registry_names_and_combination():
    assert sorted(LOSSES) == ["infonce", "listwise", "listwise+infonce", "listwise_in_batch", "margin_mse"]
    torch.manual_seed(0)
    b, length = 2, 3
    scores = Scores(
        student=torch.rand(b, b * length),
        teacher=torch.rand(b, length),
        valid=torch.ones(b, length, dtype=torch.bool),
        positive=torch.tensor([0, 2]),
        negatives=torch.ones(b, b * length, dtype=torch.bool),
    )
    cfg = loss_config(infonce_weight=0.1)
    combined = get_loss("listwise+infonce")(scores, cfg)
    parts = get_loss("listwise")(scores, cfg) + 0.1 * get_loss("infonce")(scores, cfg)
    assert combined.item() == pytest.approx(parts.item(), rel=1e-6)
    # the listwise loss sees only each query's own block of columns
    assert scores.own_list().tolist() == [scores.student[0, :3].tolist(), scores.student[1, 3:].tolist()]
    assert scores.positive_column().tolist() == [0, 5]


def test_listwise_in_batch_is_listwise_without_others_and_exact_with_uniform_scores():
    from listdistill.losses import listwise_in_batch_kl, listwise_kl

    torch.manual_seed(0)
    b, length = 2, 3
    student, teacher = torch.rand(b, b * length), torch.rand(b, length)
    valid = torch.ones(b, length, dtype=torch.bool)
    none = torch.zeros(b, b * length, dtype=torch.bool)
    own = torch.stack([student[0, :3], student[1, 3:]])  # (B, L)
    assert listwise_in_batch_kl(student, teacher, valid, none, 0.05, 0.2).item() == pytest.approx(
        listwise_kl(own, teacher, valid, 0.05, 0.2).item(), rel=1e-6
    )
    others = torch.tensor([[0, 0, 0, 1, 1, 0], [1, 0, 1, 0, 0, 0]], dtype=torch.bool)  # 2 in-batch negatives each
    uniform = listwise_in_batch_kl(torch.zeros(b, b * length), torch.zeros(b, length), valid, others, 0.05, 0.3)
    assert uniform.item() == pytest.approx(math.log(5 / 3), rel=1e-6)  # mass 1/5 each where the teacher has 1/3
    far = student.clone()
    far[others] = -100.0  # in-batch negatives far below the list: the plain listwise loss is left
    assert listwise_in_batch_kl(far, teacher, valid, others, 0.05, 0.2).item() == pytest.approx(
        listwise_kl(own, teacher, valid, 0.05, 0.2).item(), rel=1e-5
    )


def test_other_lists_excludes_the_own_list_and_its_passages_elsewhere():
    b = 2
    doc_ids = torch.tensor([[0, 1], [1, 2]])  # passage 1 is in both lists
    scores = Scores(torch.zeros(b, 4), torch.zeros(b, 2), torch.ones(b, 2, dtype=torch.bool), torch.tensor([0, 0]),
                    torch.ones(b, 4, dtype=torch.bool), doc_ids)  # fmt: skip
    assert scores.other_lists().tolist() == [[False, False, False, True], [True, False, False, False]]


def test_unknown_loss_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown loss 'kl'; valid losses: infonce, listwise, listwise\+infonce"):
        get_loss("kl")


def test_match_entropy_recovers_the_temperature_of_a_target_sharpness():
    from listdistill.losses import match_entropy, mean_entropy

    g = torch.Generator().manual_seed(0)
    scores = torch.rand(32, 10, generator=g)  # (B, L)
    valid = torch.ones(32, 10, dtype=torch.bool)
    valid[0, 7:] = False  # a padded list
    for t in (0.02, 0.1, 0.7):
        assert match_entropy(scores, valid, mean_entropy(scores / t, valid)) == pytest.approx(t, rel=1e-4)
    uniform = torch.zeros(4, 5)
    assert mean_entropy(uniform, torch.ones(4, 5, dtype=torch.bool)) == pytest.approx(1.0)  # normalised: log n -> 1
