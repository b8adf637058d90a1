"""Streaming the pretraining corpus: documents from gzip'd text and zips of AI Hub essay JSON,
packed into fixed-length token sequences, never the whole corpus in memory.

Text files (``.txt`` or ``.txt.gz``): one document per block, blocks separated by an empty line.
Zips: every ``.json`` member is one AI Hub essay; its text is ``paragraph[].paragraph_txt``
with the ``#@문장구분#`` sentence markers removed. Lines that are not valid UTF-8 are skipped
and counted.
"""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from dlpy.text.analysis import SENTENCE_MARKER


@dataclass
class ReadStats:
    """What a reader saw: documents yielded, lines skipped as bad UTF-8, unreadable members."""
    documents: int = 0
    characters: int = 0
    bad_lines: int = 0
    bad_members: int = 0
    bad_where: list[str] = field(default_factory=list)  # the first few, "file:line"

    def note_bad(self, where: str) -> None:
        self.bad_lines += 1
        if len(self.bad_where) < 10:
            self.bad_where.append(where)


def essay_text(record: dict) -> str:
    """The text of one AI Hub essay record: its paragraphs, one per line, markers removed."""
    paragraphs = record.get("paragraph") or []
    lines = []
    for paragraph in paragraphs:
        text = str(paragraph.get("paragraph_txt", "")).replace(SENTENCE_MARKER, " ")
        text = " ".join(text.split())
        if text:
            lines.append(text)
    return "\n".join(lines)


def _text_documents(path: str, stats: ReadStats) -> Iterator[str]:
    opener = gzip.open if path.endswith(".gz") else open
    lines: list[str] = []
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                stats.note_bad(f"{path}:{number}")
                continue
            if line.strip():
                lines.append(line)
            elif lines:
                yield "\n".join(lines)
                lines = []
    if lines:
        yield "\n".join(lines)


def _zip_documents(path: str, stats: ReadStats) -> Iterator[str]:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not name.endswith(".json"):
                continue
            try:
                record = json.loads(archive.read(name).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                stats.bad_members += 1
                stats.note_bad(f"{path}:{name}")
                continue
            text = essay_text(record) if isinstance(record, dict) else ""
            if text:
                yield text


def read_documents(path: str | os.PathLike, stats: ReadStats | None = None) -> Iterator[str]:
    """Yield the documents of one file (.txt, .txt.gz or a zip of essay JSON), streaming."""
    path = os.fspath(path)
    stats = stats if stats is not None else ReadStats()
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such corpus file")
    reader = _zip_documents if path.endswith(".zip") else _text_documents
    for text in reader(path, stats):
        stats.documents += 1
        stats.characters += len(text)
        yield text


def split_documents(documents: Iterable[str], heldout_every: int,
                    heldout: bool) -> Iterator[str]:
    """The held-out split is every ``heldout_every``-th document (0, N, 2N, ...); the training
    split is the rest. ``heldout_every`` 0 puts everything in training."""
    for index, text in enumerate(documents):
        is_heldout = heldout_every > 0 and index % heldout_every == 0
        if is_heldout == heldout:
            yield text


def pack(token_lists: Iterable[list[int]], seq_len: int, separator: int) -> Iterator[np.ndarray]:
    """Concatenate documents' tokens with ``separator`` between them and cut the stream into
    sequences of exactly ``seq_len`` tokens (int32); the tail shorter than seq_len is dropped."""
    if seq_len < 2:
        raise ValueError(f"pack: seq_len must be >= 2, got {seq_len}")
    buffer: list[int] = []
    for tokens in token_lists:
        buffer.extend(tokens)
        buffer.append(separator)
        while len(buffer) >= seq_len:
            yield np.asarray(buffer[:seq_len], dtype=np.int32)
            del buffer[:seq_len]


class SequenceStream:
    """Packed token sequences from several corpus files, interleaved round-robin (one sequence
    from each file in turn, so every batch mixes Wikipedia, reviews and essays), then shuffled
    through a buffer. Deterministic for a seed: ``skip(n)`` replays the first n sequences, which
    is how a resumed run continues where it stopped. Epochs repeat with a new shuffle.

    encode: text -> token ids; the held-out or training split is chosen by ``heldout``.
    weights: each file's share of the sequences while it lasts (one number per file, any
    positive scale; empty: one sequence from each file in turn). A file that runs out leaves
    the others their proportions; every sequence of every file still comes once per epoch.
    start: where in each file an epoch begins, as a share of the file's documents (0.3: at the
    document 30 % of the way in, wrapping round to the first ones at the end). A run that goes
    on from another one's weights (``--init-from``) passes a start beyond what that one read,
    so it learns from text it has not seen yet rather than from the opening of every file.
    """

    def __init__(self, paths: list[str], encode, seq_len: int, separator: int,
                 heldout_every: int = 100, heldout: bool = False, shuffle_buffer: int = 1024,
                 seed: int = 0, repeat: bool = True, start: float = 0.0,
                 weights: list[float] | None = None):
        weights = [float(w) for w in weights or ()]
        if weights and (len(weights) != len(paths)
                        or not all(np.isfinite(w) and w > 0 for w in weights)):
            raise ValueError(f"SequenceStream: expected one positive weight per file "
                             f"({len(paths)}), got {weights}")
        self.weights = weights
        if not 0.0 <= start < 1.0:
            raise ValueError(f"SequenceStream: start must be in [0, 1), got {start}")
        if not paths:
            raise ValueError("SequenceStream: expected at least one corpus file")
        for path in paths:
            if not os.path.exists(path):
                raise FileNotFoundError(f"{path}: no such corpus file")
        self.paths, self.encode = list(paths), encode
        self.seq_len, self.separator = seq_len, separator
        self.heldout_every, self.heldout = heldout_every, heldout
        self.shuffle_buffer, self.seed, self.repeat = shuffle_buffer, seed, repeat
        self.start = start
        self._first: dict[str, int] = {}  # per file: the split's document an epoch starts at
        self.stats = ReadStats()
        self.epoch = 0
        self.position = 0  # sequences yielded so far

    def _split(self, path: str, stats: ReadStats) -> Iterator[str]:
        return split_documents(read_documents(path, stats), self.heldout_every, self.heldout)

    def _documents(self, path: str) -> Iterator[str]:
        """One epoch of a file's split, from the document at ``start`` round to the one before."""
        if not self.start:
            yield from self._split(path, self.stats)
            return
        if path not in self._first:  # one pass that only counts (no tokenizing)
            count = sum(1 for _ in self._split(path, ReadStats()))
            self._first[path] = int(self.start * count)
        first = self._first[path]
        for index, text in enumerate(self._split(path, self.stats)):
            if index >= first:
                yield text
        for _, text in zip(range(first), self._split(path, ReadStats())):
            yield text

    def _interleaved(self) -> Iterator[np.ndarray]:
        streams = []
        for path in self.paths:
            docs = self._documents(path)
            streams.append(pack((self.encode(d) for d in docs), self.seq_len, self.separator))
        if self.weights:
            yield from self._weighted(streams)
            return
        while streams:
            alive = []
            for stream in streams:
                sequence = next(stream, None)
                if sequence is not None:
                    alive.append(stream)
                    yield sequence
            streams = alive

    def _weighted(self, streams: list[Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
        """Smooth weighted round-robin: each turn every live file earns its share of one
        sequence and the file with the most credit gives the next one (deterministic, so a
        resumed run replays it)."""
        alive = list(range(len(streams)))
        credit = [0.0] * len(streams)
        while alive:
            total = sum(self.weights[i] for i in alive)
            for i in alive:
                credit[i] += self.weights[i] / total
            pick = max(alive, key=lambda i: credit[i])
            credit[pick] -= 1.0
            sequence = next(streams[pick], None)
            if sequence is None:
                alive.remove(pick)
                continue
            yield sequence

    def _one_epoch(self, epoch: int) -> Iterator[np.ndarray]:
        if self.shuffle_buffer <= 1:
            yield from self._interleaved()
            return
        rng = np.random.default_rng([self.seed, epoch])
        buffer: list[np.ndarray] = []
        for sequence in self._interleaved():
            if len(buffer) < self.shuffle_buffer:
                buffer.append(sequence)
                continue
            index = int(rng.integers(len(buffer)))
            buffer[index], sequence = sequence, buffer[index]
            yield sequence
        rng.shuffle(buffer)
        yield from buffer

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            produced = 0
            for sequence in self._one_epoch(self.epoch):
                produced += 1
                self.position += 1
                yield sequence
            if produced == 0:
                raise ValueError(
                    f"SequenceStream: the {'held-out' if self.heldout else 'training'} split of "
                    f"{self.paths} holds fewer than {self.seq_len} tokens"
                )
            self.epoch += 1
            if not self.repeat:
                return

    def batches(self, batch_size: int, skip: int = 0) -> Iterator[np.ndarray]:
        """(batch_size, seq_len) int32 batches; the first ``skip`` sequences are passed over."""
        iterator = iter(self)
        for _ in range(skip):
            next(iterator)
        while True:
            rows = [sequence for _, sequence in zip(range(batch_size), iterator)]
            if len(rows) < batch_size:
                return
            yield np.stack(rows)
