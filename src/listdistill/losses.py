"""Training losses over score tensors: listwise distillation, InfoNCE with false-negative masking, both combined,
and GPL's margin-MSE.

Every loss is a pure function of score tensors and masks. The shapes, for a batch of ``B`` queries whose lists
hold ``L`` candidates each (the query's positive among them), are:

* ``student`` (B, N): student similarity of each query with every passage in the batch, ``N = B * L``, the
  passages laid out list after list, so query ``i``'s own list is columns ``i*L .. i*L+L-1``;
* ``teacher`` (B, L): teacher scores of each query's own list, normalised to [0, 1];
* ``valid`` (B, L): False where a list shorter than ``L`` was padded;
* ``positive`` (B,): position of the positive (the query's source passage) inside its own list;
* ``negatives`` (B, N): True where a passage may serve as a negative for a query (see :func:`negative_mask`).

The word used here is **temperature** ``t``: logits are ``score / t``. Libraries that say *scale*
(sentence-transformers' ``MultipleNegativesRankingLoss(scale=20)``) mean ``1 / t`` (scale 20 = temperature 0.05).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class LossConfig:
    """Loss hyper-parameters (no defaults here: they are the ``train`` section's, built by ``Params.to_losses``)."""

    student_temperature: float  # listwise: student softmax over the list
    teacher_temperature: float  # listwise: teacher softmax over normalised scores
    infonce_temperature: float
    infonce_weight: float  # listwise+infonce: listwise + weight * infonce
    false_negative_threshold: float  # a candidate above this fraction of the top teacher score is no negative


@dataclass(frozen=True)
class Scores:
    """The tensors a registered loss receives (shapes in the module docstring)."""

    student: torch.Tensor  # (B, N)
    teacher: torch.Tensor  # (B, L)
    valid: torch.Tensor  # (B, L) bool
    positive: torch.Tensor  # (B,) long, index within the own list
    negatives: torch.Tensor  # (B, N) bool
    doc_ids: torch.Tensor | None = None  # (B, L) long: equal ids = the same passage (padding: unique negatives)

    def own_list(self) -> torch.Tensor:
        """Student scores of each query's own list: (B, N) -> (B, L)."""
        b, length = self.teacher.shape
        dev = self.student.device
        cols = torch.arange(b, device=dev)[:, None] * length + torch.arange(length, device=dev)[None, :]  # (B, L)
        return self.student.gather(1, cols)  # (B, L)

    def other_lists(self) -> torch.Tensor:
        """The in-batch negatives outside each query's own list: (B, N) bool, ``negatives`` without the own
        list's columns and without any column holding a passage of the own list (by ``doc_ids``)."""
        b, length = self.teacher.shape
        dev = self.student.device
        own_rows = torch.arange(b, device=dev)[:, None] == torch.arange(b, device=dev).repeat_interleave(length)
        out = self.negatives & ~own_rows  # (B, N)
        if self.doc_ids is not None:
            ids = self.doc_ids.reshape(b * length).to(dev)  # (N,)
            listed = (self.doc_ids.to(dev)[:, :, None] == ids[None, None, :]).any(1)  # (B, N)
            out = out & ~listed
        return out

    def positive_column(self) -> torch.Tensor:
        """Column of each query's positive among all N passages: (B,)."""
        b, length = self.teacher.shape
        return torch.arange(b, device=self.positive.device) * length + self.positive  # (B,)


def listwise_kl(
    student: torch.Tensor,
    teacher: torch.Tensor,
    valid: torch.Tensor,
    student_temperature: float,
    teacher_temperature: float,
) -> torch.Tensor:
    """KL(teacher || student) between softmax distributions over each query's list, averaged over the batch.

    Listwise distillation as in RocketQAv2 (Ren et al., 2021) and Tamber et al. (2025), whose temperatures are the
    defaults: student 0.05 over cosine scores, teacher 0.3 over teacher scores normalised to [0, 1]. Padded
    candidates (``valid`` False) take no probability mass on either side.

    Args: student (B, L), teacher (B, L), valid (B, L) bool. Returns a scalar.
    """
    neg_inf = torch.finfo(student.dtype).min
    log_p_student = F.log_softmax((student / student_temperature).masked_fill(~valid, neg_inf), dim=-1)  # (B, L)
    log_p_teacher = F.log_softmax((teacher / teacher_temperature).masked_fill(~valid, neg_inf), dim=-1)  # (B, L)
    kl = log_p_teacher.exp() * (log_p_teacher - log_p_student)  # (B, L)
    return kl.masked_fill(~valid, 0.0).sum(-1).mean()


def listwise_in_batch_kl(
    student: torch.Tensor,
    teacher: torch.Tensor,
    valid: torch.Tensor,
    others: torch.Tensor,
    student_temperature: float,
    teacher_temperature: float,
) -> torch.Tensor:
    """Listwise KL(teacher || student) where the student's softmax also spans in-batch negatives.

    As :func:`listwise_kl`, but the student's distribution for each query runs over its own list *and* the other
    lists' passages that ``others`` allows (other queries' candidates, which the teacher never scored and which
    get no teacher mass). A list alone only constrains scores relative to each other, so a soft teacher target can
    be met by squeezing a list's cosines together, which lowers the positives against the rest of the corpus
    (this project measured it: with a strong teacher at temperature 0.3, the listwise dev loss fell from 1.19 to
    0.16 while the source passage's full-corpus RR@10 fell from 0.90 to 0.79); here those passages must stay
    below the list, as in the in-batch negatives of RocketQA (Qu et al., 2021) and of InfoNCE.

    Args: student (B, N), teacher (B, L), valid (B, L) bool, others (B, N) bool (allowed in-batch negatives,
    outside the query's own list). Returns a scalar.
    """
    b, length = teacher.shape
    own = torch.arange(b, device=student.device)[:, None] * length + torch.arange(length, device=student.device)
    allowed = others.clone()  # (B, N)
    allowed.scatter_(1, own, valid)  # the own list: exactly its valid candidates
    neg_inf = torch.finfo(student.dtype).min
    log_p_student = F.log_softmax((student / student_temperature).masked_fill(~allowed, neg_inf), dim=-1)  # (B, N)
    log_p_own = log_p_student.gather(1, own)  # (B, L)
    log_p_teacher = F.log_softmax((teacher / teacher_temperature).masked_fill(~valid, neg_inf), dim=-1)  # (B, L)
    kl = log_p_teacher.exp() * (log_p_teacher - log_p_own)  # (B, L)
    return kl.masked_fill(~valid, 0.0).sum(-1).mean()


def infonce(
    student: torch.Tensor, positive_column: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """InfoNCE (van den Oord et al., 2018; as in DPR, Karpukhin et al., 2020) with hard and in-batch negatives.

    Each query's positive competes with the passages ``negatives`` allows: its list's other candidates (hard
    negatives) and the other queries' candidates (in-batch negatives), minus masked false negatives. Temperature
    0.01 as in Tamber et al. (2025) (sentence-transformers' scale 100). Uniform scores give ``log(1 + #negatives)``.

    Args: student (B, N), positive_column (B,) long, negatives (B, N) bool. Returns a scalar.
    """
    rows = torch.arange(student.shape[0], device=student.device)  # (B,)
    keep = negatives.clone()
    keep[rows, positive_column] = True  # the positive itself always counts
    logits = (student / temperature).masked_fill(~keep, torch.finfo(student.dtype).min)  # (B, N)
    return F.cross_entropy(logits, positive_column)


def margin_mse(
    student: torch.Tensor, teacher: torch.Tensor, positive: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Margin-MSE (Hofstätter et al., 2020), the loss of GPL (Wang et al., 2022), over each list's negatives.

    For every valid candidate other than the positive, the student's margin ``s(q, pos) - s(q, neg)`` regresses on
    the teacher's margin ``t(q, pos) - t(q, neg)``; no temperature. GPL uses one negative per query and raw
    cross-encoder logits with a dot-product student; here every listed negative counts, the student's scores are
    cosines and the teacher's are normalised to [0, 1], so both margins lie on comparable scales.

    Args: student (B, L), teacher (B, L), positive (B,) long, valid (B, L) bool. Returns a scalar.
    """
    s_pos = student.gather(1, positive[:, None])  # (B, 1)
    t_pos = teacher.gather(1, positive[:, None])  # (B, 1)
    err = ((s_pos - student) - (t_pos - teacher)) ** 2  # (B, L)
    is_neg = valid.clone()
    is_neg[torch.arange(student.shape[0], device=student.device), positive] = False  # (B, L)
    return err[is_neg].mean()


def negative_mask(
    doc_ids: torch.Tensor, teacher: torch.Tensor, valid: torch.Tensor, positive: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Which passages may be a negative for which query, with false-negative masking.

    A query's own candidate whose teacher score is above ``threshold`` times its list's top score is a likely
    false negative; it, the positive, and every other copy of these passages in the batch (by doc id, e.g. the
    same passage as another query's positive or candidate) are not negatives. A passage listed several times in
    the batch counts once (its first column); padding never counts.

    Args: doc_ids (B, L) long, integer ids of the passages (equal ids = same passage), teacher (B, L),
    valid (B, L) bool, positive (B,) long. Returns (B, N) bool, N = B * L.
    """
    b, length = doc_ids.shape
    ids = doc_ids.reshape(b * length)  # (N,)
    top = teacher.masked_fill(~valid, float("-inf")).max(-1, keepdim=True).values  # (B, 1)
    excluded = valid & (teacher > threshold * top)  # (B, L)
    excluded[torch.arange(b, device=doc_ids.device), positive] = True
    blocked = ((doc_ids[:, :, None] == ids) & excluded[:, :, None]).any(1)  # (B, N)
    repeat = ((ids[:, None] == ids[None, :]).tril(-1)).any(1)  # (N,) an earlier column holds the same passage
    return (valid.reshape(b * length) & ~repeat) & ~blocked  # (B, N)


def listwise_loss(s: Scores, c: LossConfig) -> torch.Tensor:
    return listwise_kl(s.own_list(), s.teacher, s.valid, c.student_temperature, c.teacher_temperature)


def listwise_in_batch_loss(s: Scores, c: LossConfig) -> torch.Tensor:
    return listwise_in_batch_kl(
        s.student, s.teacher, s.valid, s.other_lists(), c.student_temperature, c.teacher_temperature
    )


def infonce_loss(s: Scores, c: LossConfig) -> torch.Tensor:
    return infonce(s.student, s.positive_column(), s.negatives, c.infonce_temperature)


def listwise_infonce_loss(s: Scores, c: LossConfig) -> torch.Tensor:
    return listwise_loss(s, c) + c.infonce_weight * infonce_loss(s, c)


def margin_mse_loss(s: Scores, c: LossConfig) -> torch.Tensor:
    return margin_mse(s.own_list(), s.teacher, s.positive, s.valid)


LossFn = Callable[[Scores, LossConfig], torch.Tensor]

LOSSES: dict[str, LossFn] = {
    "listwise": listwise_loss,
    "infonce": infonce_loss,
    "listwise+infonce": listwise_infonce_loss,
    "listwise_in_batch": listwise_in_batch_loss,
    "margin_mse": margin_mse_loss,
}


def get_loss(name: str) -> LossFn:
    """The registered loss called ``name`` (the value of the ``loss`` param)."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(sorted(LOSSES))}") from None


def mean_entropy(logits: torch.Tensor, valid: torch.Tensor) -> float:
    """Mean entropy of the softmax over each row's valid entries, divided by log(valid count): (B, L) -> scalar."""
    logits = logits.masked_fill(~valid, float("-inf"))  # (B, L)
    logp = torch.log_softmax(logits, dim=-1).masked_fill(~valid, 0.0)  # (B, L)
    h = -(logp.exp() * logp).sum(-1)  # (B,)
    n = valid.sum(-1).clamp(min=2).to(h.dtype)  # (B,)
    return float((h / n.log()).mean())


def match_entropy(
    teacher: torch.Tensor, valid: torch.Tensor, target: float, lo: float = 1e-3, hi: float = 10.0
) -> float:
    """The teacher temperature at which the teacher's softmax over each list has the mean normalised entropy
    ``target`` (bisection on log temperature; entropy grows with temperature). Used to calibrate
    ``teacher_temperature`` to the student: ``target`` is the zero-shot student's entropy at its own temperature,
    so the target is as sharp as the student's own distribution, whatever the scale of the teacher's scores."""
    for _ in range(60):
        mid = (lo * hi) ** 0.5
        if mean_entropy(teacher / mid, valid) < target:
            lo = mid
        else:
            hi = mid
    return round((lo * hi) ** 0.5, 6)
