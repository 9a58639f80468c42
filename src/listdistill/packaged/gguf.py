"""Conversions of a verified packaged file into a model folder: a NomicBert GGUF as a transformers
``NomicBertModel`` folder."""

from __future__ import annotations

from pathlib import Path

from listdistill.packaged.registry import PackagedModelError


def convert_nomic_bert_gguf(gguf_path: Path, dest: Path) -> None:
    """Write a NomicBert GGUF (llama.cpp's ``nomic-bert``: f16/f32 tensors) as a transformers ``NomicBertModel``
    folder with float32 safetensors, its WordPiece tokenizer (from the GGUF vocabulary) and mean pooling.

    transformers' GGUF loader does not know this architecture, so the tensors are mapped by hand: token_embd ->
    embeddings.word_embeddings, token_types -> token_type_embeddings, token_embd_norm -> embeddings.LayerNorm;
    per block attn_qkv (fused, rows q | k | v) -> self_attn.{q,k,v}_proj, attn_output -> o_proj, ffn_gate / ffn_up
    / ffn_down -> mlp.{gate,up,down}_proj (down(silu(gate x) * up x), as llama.cpp computes), attn_output_norm ->
    post_attention_layernorm, layer_output_norm -> post_mlp_layernorm. Rotary embeddings are non-interleaved
    (NeoX) in both.
    """
    import json

    import gguf
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import BertTokenizer, NomicBertConfig

    reader = gguf.GGUFReader(str(gguf_path))

    def meta(key: str) -> object:  # ReaderField.contents() is typed Any: a str, int, float, bool or list of them
        return reader.fields[key].contents()

    def meta_number(key: str) -> int | float:
        value = meta(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PackagedModelError(f"{gguf_path.name}: metadata {key} is {value!r}, not a number")
        return value

    def meta_strings(key: str) -> list[str]:
        value = meta(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise PackagedModelError(f"{gguf_path.name}: metadata {key} is not a list of strings")
        return value

    if meta("general.architecture") != "nomic-bert":
        raise PackagedModelError(f"{gguf_path.name}: architecture {meta('general.architecture')!r}, not nomic-bert")
    tensors = {t.name: t for t in reader.tensors}

    def array(name: str) -> torch.Tensor:
        t = tensors[name]
        if t.tensor_type not in (gguf.GGMLQuantizationType.F16, gguf.GGMLQuantizationType.F32):
            raise PackagedModelError(f"{gguf_path.name}: tensor {name} is {t.tensor_type.name}, not f16/f32")
        shape = tuple(int(x) for x in reversed(t.shape.tolist()))  # ggml lists dimensions innermost first
        return torch.from_numpy(np.asarray(t.data).reshape(shape).astype(np.float32))

    tokens = meta_strings("tokenizer.ggml.tokens")
    hidden = int(meta_number("nomic-bert.embedding_length"))
    layers = int(meta_number("nomic-bert.block_count"))
    config = NomicBertConfig(
        vocab_size=len(tokens),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=int(meta_number("nomic-bert.attention.head_count")),
        intermediate_size=int(meta_number("nomic-bert.feed_forward_length")),
        max_position_embeddings=int(meta_number("nomic-bert.context_length")),
        layer_norm_eps=float(meta_number("nomic-bert.attention.layer_norm_epsilon")),
        pad_token_id=int(meta_number("tokenizer.ggml.padding_token_id")),
        type_vocab_size=int(tensors["token_types.weight"].shape[-1]),
        rope_parameters={"rope_type": "default", "rope_theta": float(meta_number("nomic-bert.rope.freq_base"))},
    )
    state = {
        "embeddings.word_embeddings.weight": array("token_embd.weight"),
        "embeddings.token_type_embeddings.weight": array("token_types.weight"),
        "embeddings.LayerNorm.weight": array("token_embd_norm.weight"),
        "embeddings.LayerNorm.bias": array("token_embd_norm.bias"),
    }
    for i in range(layers):
        blk, out = f"blk.{i}.", f"layers.{i}."
        q, k, v = array(blk + "attn_qkv.weight").split(hidden, dim=0)
        state |= {
            out + "self_attn.q_proj.weight": q.contiguous(),
            out + "self_attn.k_proj.weight": k.contiguous(),
            out + "self_attn.v_proj.weight": v.contiguous(),
            out + "self_attn.o_proj.weight": array(blk + "attn_output.weight"),
            out + "mlp.gate_proj.weight": array(blk + "ffn_gate.weight"),
            out + "mlp.up_proj.weight": array(blk + "ffn_up.weight"),
            out + "mlp.down_proj.weight": array(blk + "ffn_down.weight"),
            out + "post_attention_layernorm.weight": array(blk + "attn_output_norm.weight"),
            out + "post_attention_layernorm.bias": array(blk + "attn_output_norm.bias"),
            out + "post_mlp_layernorm.weight": array(blk + "layer_output_norm.weight"),
            out + "post_mlp_layernorm.bias": array(blk + "layer_output_norm.bias"),
        }
    config.architectures = ["NomicBertModel"]
    config.save_pretrained(dest)
    save_file(state, str(dest / "model.safetensors"), metadata={"format": "pt"})
    (dest / "model.safetensors").chmod(0o644)
    # llama.cpp writes WordPiece as phantom-space tokens: "\u2581word" starts a word, a bare piece continues one
    # ("##piece" in WordPiece); bracketed specials stay as they are
    vocab = [
        t[1:] if t.startswith("\u2581") else t if t.startswith("[") and t.endswith("]") else f"##{t}" for t in tokens
    ]
    tok = BertTokenizer(
        vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True, model_max_length=config.max_position_embeddings
    )
    tok.save_pretrained(dest)
    (dest / "1_Pooling").mkdir(exist_ok=True)
    (dest / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": hidden, "pooling_mode_mean_tokens": True}, indent=2) + "\n"
    )
