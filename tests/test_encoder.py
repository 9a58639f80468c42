from __future__ import annotations

import numpy as np
import torch
from factories import encoder_config

from listdistill.encoder import Encoder, pool

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

    enc = Encoder(encoder_config(batch_size=2))
    st = SentenceTransformer(enc.location, device="cpu")
    np.testing.assert_allclose(enc.encode_passages(PASSAGES), st.encode(PASSAGES, normalize_embeddings=True), atol=1e-5)


def test_prefixes_change_the_embedding():
    plain = Encoder(encoder_config()).encode_queries(["boundary layer"])
    prefixed = Encoder(encoder_config(query_prefix="query: ")).encode_queries(["boundary layer"])
    assert not np.allclose(plain, prefixed, atol=1e-3)


def test_pool_modes():
    hidden = torch.tensor([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]])  # (1, 3, 2); last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert pool(hidden, mask, "mean").tolist() == [[2.0, 1.0]]
    assert pool(hidden, mask, "cls").tolist() == [[1.0, 0.0]]


def test_bfloat16_encoding_keeps_the_float32_embeddings_and_ranking(minilm):
    """bf16 autocast (student.dtype) moves embeddings by well under 1% of cosine and keeps every ranking here."""
    bf16 = Encoder(encoder_config(batch_size=4, dtype="bfloat16"))
    p32, p16 = minilm.encode_passages(PASSAGES), bf16.encode_passages(PASSAGES)
    q32, q16 = minilm.encode_queries(QUERIES), bf16.encode_queries(QUERIES)
    assert p16.dtype == np.float32 and p16.shape == p32.shape
    assert np.einsum("nd,nd->n", p32, p16).min() > 0.999 and np.einsum("nd,nd->n", q32, q16).min() > 0.999
    assert (q16 @ p16.T).argmax(axis=1).tolist() == (q32 @ p32.T).argmax(axis=1).tolist() == [0, 1, 2]
    assert not np.array_equal(p32, p16)  # the bf16 path really ran


def test_an_unknown_encoder_dtype_is_refused():
    import pytest

    enc = Encoder(encoder_config(dtype="float16"))
    with pytest.raises(ValueError, match="encoder dtype must be float32 or bfloat16"):
        enc.encode_passages(PASSAGES[:1])


def test_auto_prefixes_are_the_models_own(tmp_path):
    """student.query_prefix / passage_prefix ``auto``: a sentence-transformers config's prompts, else none."""
    import json
    import shutil

    plain = Encoder(encoder_config(query_prefix="auto", passage_prefix="auto"))
    assert (plain.prefix(True), plain.prefix(False)) == ("", "")  # MiniLM has no prompts
    np.testing.assert_allclose(
        plain.encode_queries(QUERIES), Encoder(encoder_config()).encode_queries(QUERIES), atol=1e-6
    )
    folder = tmp_path / "prompted"
    shutil.copytree(plain.location, folder)
    cfg = json.loads((folder / "config_sentence_transformers.json").read_text())
    cfg["prompts"] = {"query": "query: ", "document": "passage: "}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(cfg))
    prompted = Encoder(encoder_config(model=str(folder), query_prefix="auto", passage_prefix="auto"))
    assert (prompted.prefix(True), prompted.prefix(False)) == ("query: ", "passage: ")
    explicit = Encoder(encoder_config(model=str(folder), query_prefix="", passage_prefix="auto"))
    assert (explicit.prefix(True), explicit.prefix(False)) == ("", "passage: ")
    import dataclasses

    prompted.config = dataclasses.replace(prompted.config, passage_max_length=128)  # as the train stage does
    assert prompted.prefix(True) == "query: "  # "auto" is never taken for the text of a prefix
    with_prefix = Encoder(encoder_config(query_prefix="query: ")).encode_queries(["boundary layer"])
    np.testing.assert_allclose(prompted.encode_queries(["boundary layer"]), with_prefix, atol=1e-5)
