"""A user's corpus as a folder of files, read recursively: one document per file.

* ``.txt`` and ``.md``: the text as it is (UTF-8; a byte that is not UTF-8 is an error naming the file and line);
* ``.html`` and ``.htm``: the text of the page with the markup removed by Beautiful Soup (``<script>``,
  ``<style>``, ``<noscript>`` and ``<template>`` dropped, block elements on lines of their own, inline ones
  joined into their sentence), the ``<title>`` as the title;
* ``.pdf``: the text of every page, extracted by pypdf (offline; see the README for how well).

The document id is the file's path relative to the folder, in POSIX form, NFC-normalised, with each run of
whitespace made one ``_`` (ids end up in whitespace-separated TREC files); two files whose paths normalise to the
same id, ignoring case (``a b.txt`` and ``a_b.txt``, or ``A.txt`` and ``a.txt``), are an error naming both.
Hidden files and folders (``.name``) and files of other kinds are skipped and counted. A file with no text once
the markup is removed is dropped and counted (``dropped_empty_documents``, with the first few paths), not an
error: a crawl often holds a few empty pages. A folder with no readable file, or whose files are all empty, is an
error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from listdistill.data.checks import check_utf8
from listdistill.data.documents import normal_id
from listdistill.io import FormatError
from listdistill.records import Doc

TEXT_SUFFIXES = (".txt", ".md")
HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIXES = (".pdf",)
DROPPED_SHOWN = 5  # paths named in the notes
DROP_TAGS = ("script", "style", "noscript", "template")
BLOCK_TAGS = ("address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer",
              "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
              "table", "td", "th", "tr", "ul")  # fmt: skip


def read_text(path: Path) -> tuple[str, str]:
    """(title, text) of a text or Markdown file."""
    check_utf8(path)
    return "", path.read_text(encoding="utf-8")


def read_html(path: Path) -> tuple[str, str]:
    """(title, text) of an HTML page with its markup removed."""
    from bs4 import BeautifulSoup

    check_utf8(path)
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    title = " ".join(soup.title.get_text(" ").split()) if soup.title else ""
    for tag in soup.find_all([*DROP_TAGS, "title"]):
        tag.decompose()
    for tag in soup.find_all(BLOCK_TAGS):  # a block on lines of its own; inline markup joins its words
        tag.insert_before("\n")
        tag.insert_after("\n")
    text = soup.get_text()
    lines = (" ".join(line.split()) for line in text.splitlines())
    return title, "\n".join(line for line in lines if line)


def read_pdf(path: Path) -> tuple[str, str]:
    """(title, text) of a PDF: its metadata title and the text of every page."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [page.extract_text() or "" for page in reader.pages]
        title = str(reader.metadata.get("/Title") or "") if reader.metadata is not None else ""
    except (PdfReadError, ValueError, KeyError) as e:
        raise FormatError(f"{path}: expected a readable PDF ({type(e).__name__}: {e})") from e
    return " ".join(title.split()), "\n".join(pages)


READERS: dict[str, Callable[[Path], tuple[str, str]]] = {
    **dict.fromkeys(TEXT_SUFFIXES, read_text),
    **dict.fromkeys(HTML_SUFFIXES, read_html),
    **dict.fromkeys(PDF_SUFFIXES, read_pdf),
}


def is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def load_folder(folder: Path) -> tuple[list[Doc], dict[str, str]]:
    """The documents of ``folder`` in path order, and notes on what was skipped or dropped."""
    if not folder.is_dir():
        raise FormatError(f"{folder}: expected a folder of text files")
    files = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    readable = [p for p in files if not is_hidden(p.relative_to(folder)) and p.suffix.lower() in READERS]
    others = [p for p in files if p not in set(readable)]
    if not readable:
        shown = ", ".join(p.relative_to(folder).as_posix() for p in others[:DROPPED_SHOWN])
        kinds = ", ".join(sorted(READERS))
        found = f"; it holds {len(others)} other file(s): {shown}" if others else "; it is empty"
        raise FormatError(f"{folder}: expected files ending in {kinds}{found}")
    docs: list[Doc] = []
    seen: dict[str, Path] = {}
    empty: list[str] = []
    for path in readable:
        relative = path.relative_to(folder).as_posix()
        doc_id = normal_id(relative)
        if doc_id.casefold() in seen:
            raise FormatError(
                f"{path}: its id {doc_id!r} (the path, normalised) is also that of {seen[doc_id.casefold()]}; "
                "rename one of them"
            )
        seen[doc_id.casefold()] = path
        title, text = READERS[path.suffix.lower()](path)
        if not text.strip():
            empty.append(relative)
            continue
        docs.append(Doc(doc_id, title, _tidy(text)))
    notes = {"documents_read": str(len(readable)), "skipped_other_files": str(len(others))}
    if empty:
        notes["dropped_empty_documents"] = str(len(empty))
        notes["dropped_empty_examples"] = ", ".join(empty[:DROPPED_SHOWN])
    if not docs:
        raise FormatError(f"{folder}: all {len(readable)} readable file(s) are empty once markup is removed")
    return docs, notes


def _tidy(text: str) -> str:
    """Trailing spaces off, three or more line breaks made two (a paragraph break), ends stripped."""
    text = "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
