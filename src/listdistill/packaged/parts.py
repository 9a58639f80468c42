"""Locating a packaged model's pieces in site-packages (without importing their packages) and joining them:
concatenated into one file, or read in place as one split zip archive; every result hashed."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import io
import os
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from listdistill.packaged.registry import MissingPartError, PackagedModel, PackagedModelError, Part

CHUNK = 1 << 20


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
            f"`{model.pip_command()}` (or `python -m listdistill_models install {model.name}`)"
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
