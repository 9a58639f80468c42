from __future__ import annotations

import numpy as np
import torch

from listdistill.encoder import Encoder, EncoderConfig, pool

PASSAGES = [
    "The boundary layer on a flat plate becomes turbulent at high Reynolds numbers.",
    "Photosynthesis converts sunlight, water and carbon dioxide into glucose in plant leaves.",
    "The central bank raised interest rates to curb inflation.",
]
QUERIES = ["when does a boundary layer turn turbulent", "how do plants make sugar", "why did rates go up"]


def test_query_embeds_closest_to_its_own_passage(minilm):
    q = minilm.encode_queries(QUERIES)
    p = minilm.encode_passages(PASSAGES)
    assert q.shape == (3, 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-5)
    assert (q @ p.T).argmax(axis=1).tolist() == [0, 1, 2]


def test_length_sorted_batches_keep_input_order(minilm):
    one_by_one = np.stack([minilm.encode_passages([t])[0] for t in PASSAGES])
    np.testing.assert_allclose(minilm.encode_passages(PASSAGES), one_by_one, atol=1e-5)


def test_auto_pooling_reads_sentence_transformers_config(minilm):
    assert minilm.pooling == "mean"


def test_matches_sentence_transformers():
    from sentence_transformers import SentenceTransformer

    enc = Encoder(EncoderConfig(batch_size=2))
    st = SentenceTransformer(enc.location, device="cpu")
    np.testing.assert_allclose(enc.encode_passages(PASSAGES), st.encode(PASSAGES, normalize_embeddings=True), atol=1e-5)


def test_prefixes_change_the_embedding():
    plain = Encoder(EncoderConfig()).encode_queries(["boundary layer"])
    prefixed = Encoder(EncoderConfig(query_prefix="query: ")).encode_queries(["boundary layer"])
    assert not np.allclose(plain, prefixed, atol=1e-3)


def test_pool_modes():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]])  # (1, 3, 2); last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 1.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 0.0]]
