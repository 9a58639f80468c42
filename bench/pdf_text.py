"""How well the folder reader gets the text out of PDFs (pypdf, offline): word recall and precision against the
text the PDF was printed from, and the share of the source's word order kept (difflib's matching blocks).

Make PDFs whose text you know, e.g. with headless Chromium from HTML pages, then:

    python bench/pdf_text.py --pdf one.pdf --truth one.txt --pdf two.pdf --truth two.txt
"""

from __future__ import annotations

import difflib
import re
import time
from collections import Counter
from pathlib import Path

import click

from listdistill.data.folder import read_pdf


def tokens(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def compare(source: str, extracted: str) -> dict[str, float]:
    a, b = tokens(source), tokens(extracted)
    common = sum((Counter(a) & Counter(b)).values())
    blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    return {
        "source_words": len(a),
        "recall": round(common / len(a), 4) if a else 0.0,
        "precision": round(common / len(b), 4) if b else 0.0,
        "in_order": round(sum(m.size for m in blocks) / len(a), 4) if a else 0.0,
    }


@click.command()
@click.option("--pdf", "pdfs", type=click.Path(path_type=Path, exists=True), multiple=True, required=True)
@click.option("--truth", "truths", type=click.Path(path_type=Path, exists=True), multiple=True, required=True)
def main(pdfs: tuple[Path, ...], truths: tuple[Path, ...]) -> None:
    for pdf, truth in zip(pdfs, truths, strict=True):
        start = time.perf_counter()
        _, text = read_pdf(pdf)
        seconds = time.perf_counter() - start
        click.echo(f"{pdf.name}: {compare(truth.read_text(encoding='utf-8'), text)} in {seconds:.2f} s")


if __name__ == "__main__":
    main()
