"""Cutting documents into chunks: by heading (the book's default), into fixed word windows, or into runs of sentences.

Taught in notebook 02a (``chunk_by_heading``) and 03a (the other two, measured against it)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ragft.data import Document


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that is embedded and retrieved as one unit.

    Taught in notebook 02a.
    """

    id: str
    doc_id: str
    text: str


MAX_CHUNK_WORDS = 150  # about 210 word pieces, inside the embedder's 256; every section of the book is shorter


def chunk_by_heading(doc: Document, title: bool = True, max_words: int | None = MAX_CHUNK_WORDS) -> list[Chunk]:
    """One chunk per ``##`` section; with ``title`` each starts with the document title, so it stands alone.

    A section longer than ``max_words`` words (a plain-text file without headings, say) is cut at
    paragraphs, then sentences, then words (``split_long``), each piece under the section's heading
    line, with ids ``doc#i.1``, ``doc#i.2``, ... ``max_words=None`` keeps every section whole.

    Taught in notebook 02a.
    """
    if max_words is not None and max_words < 10:
        raise ValueError(f"need max_words >= 10 (or None for no limit), got {max_words}")
    parts = re.split(r"\n(?=## )", doc.text.strip())
    chunks = []
    for i, part in enumerate(p.strip() for p in parts):
        heading = i > 0 or part.startswith("# ") or part.startswith("## ")
        if i == 0 and part.startswith("# "):
            part = part[2:].strip()  # the introduction, under the document title
        elif part.startswith("## "):
            part = f"{doc.title}: {part[3:].strip()}" if title else part[3:].strip()
        if not part:
            continue
        if max_words is None or len(part.split()) <= max_words:
            chunks.append(Chunk(f"{doc.id}#{i}", doc.id, part))
            continue
        if heading:  # the heading line goes in front of every piece
            header, _, body = part.partition("\n")
        else:  # text without headings: its pieces are put under the document title
            header, body = (doc.title if title else ""), part
        pieces = split_long(body, max(max_words - len(header.split()), max_words // 2))
        for j, piece in enumerate(pieces, 1):
            text = piece if not header or (j == 1 and not heading) else f"{header}\n\n{piece}"
            chunks.append(Chunk(f"{doc.id}#{i}.{j}", doc.id, text))
    return chunks


def split_long(text: str, max_words: int) -> list[str]:
    """Pieces of at most ``max_words`` words: whole paragraphs where they fit, else sentences, else runs of words."""
    units: list[tuple[str, bool]] = []  # (text, starts a paragraph)
    for para in re.split(r"\n\s*\n", text.strip()):
        if len(para.split()) <= max_words:
            units.append((para.strip(), True))
            continue
        first = True
        for sentence in SENTENCE_END.split(para):
            words = sentence.split()
            for s in range(0, len(words), max_words):
                units.append((" ".join(words[s:s + max_words]), first))
                first = False
    pieces, current, n = [], "", 0
    for unit, new_paragraph in units:
        w = len(unit.split())
        if not w:
            continue
        if current and n + w > max_words:
            pieces.append(current)
            current, n = "", 0
        current = unit if not current else current + ("\n\n" if new_paragraph else " ") + unit
        n += w
    return pieces + [current] if current else pieces


def chunk_fixed(doc: Document, size: int = 80, overlap: int = 20) -> list[Chunk]:
    """Windows of ``size`` words that overlap by ``overlap`` words.

    Taught in notebook 03a.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    words = doc.text.split()
    starts = range(0, max(len(words) - overlap, 1), size - overlap)
    return [Chunk(f"{doc.id}@{s}", doc.id, " ".join(words[s:s + size])) for s in starts]


SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}")


def chunk_by_sentence(doc: Document, sentences: int = 3) -> list[Chunk]:
    """Runs of ``sentences`` consecutive sentences (Markdown headings and blank lines also end a sentence).

    Taught in notebook 03a.
    """
    if sentences <= 0:
        raise ValueError(f"need sentences > 0, got {sentences}")
    text = re.sub(r"^#+ ", "", doc.text.strip(), flags=re.M)
    parts = [" ".join(p.split()) for p in SENTENCE_END.split(text) if p.strip()]
    return [Chunk(f"{doc.id}~{i}", doc.id, " ".join(parts[i:i + sentences]))
            for i in range(0, len(parts), sentences)]


def split_sentences(text: str) -> list[str]:
    """The sentences of a chunk (a line on its own, such as a heading, counts as one)."""
    return [" ".join(p.split()) for p in SENTENCE_END.split(text.replace("\n", "\n\n")) if p.strip()]
