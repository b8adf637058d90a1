"""Word vectors: loading fastText/word2vec files that real life produced, and OOV resolution.

    wv = load_vectors("cc.ko.300.vec", limit=200_000)
    wv["학교"], "학교" in wv, wv.vectors.shape, wv.skipped
    wv.resolve("학교들에서")   # -> ("학교들", "prefix"): the nearest word in the sorted vocabulary

Memory is one float32 matrix (n, dim) plus the word list and a dict index.
"""

from __future__ import annotations

import bisect
import itertools
import os
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlpy.io import atomic_write_bytes

RESOLVE_KINDS = ("exact", "prefix", "suffix", "unknown")
_CHUNK_VALUES = 1_000_000  # numbers parsed per numpy pass: bounds the temporaries to ~100 MB
_MAX_PROBLEMS = 20


@dataclass
class OOVReport:
    """How the tokens of a corpus were resolved: counts per kind, over tokens and over types."""

    token_counts: dict[str, int]
    type_counts: dict[str, int]
    unknown_examples: list[str] = field(default_factory=list)

    @property
    def num_tokens(self) -> int:
        return sum(self.token_counts.values())

    @property
    def shares(self) -> dict[str, float]:
        """Share of tokens of each kind (exact, prefix, suffix, unknown), summing to 1."""
        n = self.num_tokens
        return {k: (self.token_counts[k] / n if n else 0.0) for k in RESOLVE_KINDS}

    def __str__(self) -> str:
        n_types = sum(self.type_counts.values())
        lines = [f"{self.num_tokens} tokens, {n_types} distinct"]
        for kind in RESOLVE_KINDS:
            share = self.shares[kind]
            lines.append(f"  {kind:8s} {share:7.2%} of tokens  ({self.type_counts[kind]} types)")
        if self.unknown_examples:
            lines.append("  unknown, e.g.: " + " ".join(self.unknown_examples))
        return "\n".join(lines)


class WordVectors:
    """Words and their vectors: `.words` (list), `.vectors` float32 (n, dim), `.index` word -> row.

    `skipped` counts the rows a loader refused, `skip_reasons` says why, `problems` holds the
    first few messages (file and line), `header_count` the row count the file's header
    claimed. `min_match` is resolve()'s default minimum match length.
    """

    def __init__(self, words: list[str], vectors: np.ndarray, *, skipped: int = 0,
                 skip_reasons: dict[str, int] | None = None, problems: list[str] | None = None,
                 min_match: int = 1, header_count: int | None = None) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise ValueError(f"WordVectors: expected vectors of shape ({len(words)}, dim), "
                             f"got {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            dup = next(w for w, c in Counter(self.words).items() if c > 1)
            raise ValueError(f"WordVectors: duplicate word {dup!r}")
        if min_match < 1:
            raise ValueError(f"WordVectors: expected min_match >= 1, got {min_match}")
        self.skipped = skipped
        self.skip_reasons = dict(skip_reasons or {})
        self.problems = list(problems or [])
        self.min_match = min_match
        self.header_count = header_count
        self._sorted: list[str] | None = None
        self._sorted_reversed: list[str] | None = None

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        try:
            return self.vectors[self.index[word]]
        except KeyError:
            raise KeyError(f"WordVectors: {word!r} is not in the vocabulary "
                           f"({len(self)} words); use resolve() for OOV words") from None

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim={self.dim}, skipped={self.skipped})"

    # --- OOV resolution ---

    def resolve(self, word: str, min_match: int | None = None) -> tuple[str | None, str]:
        """(matched word or None, how), how in "exact", "prefix", "suffix", "unknown".

        Prefix: the vocabulary word sharing the longest common prefix (binary search in the sorted
        vocabulary; the best match is always a neighbour of the insertion point). Suffix: the same
        over reversed words. The longer match wins, a tie goes to the prefix, and between two
        neighbours with equal matches the earlier row (the more frequent word in fastText order)
        wins. Matches shorter than `min_match` characters do not count.
        """
        if word in self.index:
            return word, "exact"
        min_match = self.min_match if min_match is None else min_match
        if self._sorted is None:
            self._sorted = sorted(self.words)
            self._sorted_reversed = sorted(w[::-1] for w in self.words)
        prefix_word, prefix_len = self._nearest(self._sorted, word)
        suffix_word, suffix_len = self._nearest(self._sorted_reversed, word[::-1])
        if prefix_len >= suffix_len and prefix_len >= min_match:
            return prefix_word, "prefix"
        if suffix_len >= min_match:
            return suffix_word[::-1], "suffix"
        return None, "unknown"

    def _nearest(self, ordered: list[str], query: str) -> tuple[str, int]:
        """The neighbour of `query`'s insertion point with the longest common prefix."""
        i = bisect.bisect_left(ordered, query)
        best, best_len = "", 0
        for candidate in ordered[max(i - 1, 0):i + 1]:
            n = _common_prefix_len(candidate, query)
            if n > best_len or (n == best_len and n > 0 and self._row(candidate, ordered)
                                < self._row(best, ordered)):
                best, best_len = candidate, n
        return best, best_len

    def _row(self, candidate: str, ordered: list[str]) -> int:
        word = candidate if ordered is self._sorted else candidate[::-1]
        return self.index[word]

    def oov_report(self, tokens: Iterable[str], min_match: int | None = None,
                   num_examples: int = 10) -> OOVReport:
        """How `tokens` resolve: counts of exact/prefix/suffix/unknown over tokens and types."""
        kinds: dict[str, str] = {}
        token_counts = dict.fromkeys(RESOLVE_KINDS, 0)
        for token in tokens:
            kind = kinds.get(token)
            if kind is None:
                kind = kinds[token] = self.resolve(token, min_match)[1]
            token_counts[kind] += 1
        type_counts = dict.fromkeys(RESOLVE_KINDS, 0)
        for kind in kinds.values():
            type_counts[kind] += 1
        examples = [t for t, k in kinds.items() if k == "unknown"][:num_examples]
        return OOVReport(token_counts, type_counts, examples)

    # --- geometry ---

    def centered(self) -> WordVectors:
        """A copy with the mean vector subtracted and rows rescaled to unit length (the Kiwi
        vectors share a common direction that dominates raw cosines)."""
        vectors = self.vectors - self.vectors.mean(axis=0, keepdims=True)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.maximum(norms, 1e-12)
        return WordVectors(self.words, vectors, min_match=self.min_match)

    def most_similar(self, word: str, k: int = 10) -> list[tuple[str, float]]:
        """The `k` words of highest cosine similarity to `word` (itself excluded)."""
        query = self[word].astype(np.float64)
        norms = np.linalg.norm(self.vectors, axis=1) * max(np.linalg.norm(query), 1e-12)
        cosines = (self.vectors @ query) / np.maximum(norms, 1e-12)
        cosines[self.index[word]] = -np.inf
        top = np.argsort(-cosines)[:k]
        return [(self.words[i], float(cosines[i])) for i in top]

    # --- saving ---

    def save(self, path: str | os.PathLike, binary: bool | None = None) -> None:
        """Write a fastText text `.vec` (or word2vec binary when `binary` or the name ends in
        `.bin`), atomically. Words may not contain a newline (nor, in binary, a space)."""
        path = Path(path)
        binary = path.suffix == ".bin" if binary is None else binary
        chunks = [f"{len(self)} {self.dim}\n".encode()]
        row_format = " ".join(["%.6g"] * self.dim)
        for word, row in zip(self.words, self.vectors):
            if "\n" in word or not word or (binary and " " in word):
                raise ValueError(f"WordVectors.save: cannot write word {word!r} to {path}"
                                 + (" (word2vec binary ends a word at a space)" if binary else ""))
            if binary:
                chunks.append(word.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
            else:
                chunks.append(f"{word} {row_format % tuple(row.tolist())}\n".encode())
        atomic_write_bytes(path, b"".join(chunks))


def _common_prefix_len(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


# --- loading ---

class _Loader:
    """Collects rows, counts what it skips and why."""

    def __init__(self, path: Path, dim: int, capacity: int, limit: int | None) -> None:
        self.path, self.dim, self.limit = path, dim, limit
        self.vectors = np.empty((max(capacity, 1), dim), dtype=np.float32)
        self.words: list[str] = []
        self.seen: set[str] = set()
        self.skip_reasons: Counter[str] = Counter()
        self.problems: list[str] = []

    def skip(self, line_number: int, reason: str) -> None:
        self.skip_reasons[reason] += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(f"{self.path}:{line_number}: skipped, {reason}")

    def claim_word(self, line_number: int, word_bytes: bytes) -> str | None:
        """The decoded word if it is sound and new (and now claimed), else None (skip counted)."""
        try:
            word = word_bytes.decode("utf-8")
        except UnicodeDecodeError:
            self.skip(line_number, "invalid UTF-8 in the word")
            return None
        if not word.strip():
            self.skip(line_number, "empty word")
            return None
        if word in self.seen:
            self.skip(line_number, f"duplicate word {word!r} (kept the first)")
            return None
        self.seen.add(word)
        return word

    def full(self) -> bool:
        return self.limit is not None and len(self.words) >= self.limit

    def add(self, words: list[str], rows: np.ndarray) -> None:
        n = len(self.words)
        if n + len(words) > len(self.vectors):
            grown = np.empty((max(2 * len(self.vectors), n + len(words)), self.dim), np.float32)
            grown[:n] = self.vectors[:n]
            self.vectors = grown
        self.vectors[n:n + len(words)] = rows
        self.words.extend(words)

    def result(self) -> WordVectors:
        n = len(self.words)
        vectors = self.vectors[:n] if n < len(self.vectors) else self.vectors
        return WordVectors(self.words, vectors, skipped=sum(self.skip_reasons.values()),
                           skip_reasons=dict(self.skip_reasons), problems=self.problems)


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


def _parse_rows(texts: list[bytes], dim: int) -> np.ndarray | None:
    """Parse the numeric parts of many rows at once; None when any row is malformed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # older numpy warns when it stops early: size is checked
        try:
            flat = np.fromstring(b" ".join(texts).decode("ascii", "replace"), dtype=np.float32,
                                 sep=" ")
        except ValueError:  # newer numpy raises instead
            return None
    if flat.size != len(texts) * dim:
        return None
    return flat.reshape(len(texts), dim)


def _parse_row(text: bytes, dim: int) -> np.ndarray | None:
    try:
        row = np.array([float(x) for x in text.split(b" ")], dtype=np.float32)
    except ValueError:
        return None
    return row if row.size == dim else None


_SNIFF_ROWS = 100  # a header-less file's dimension: the most common value count of these rows


def _values_in(line: bytes) -> int:
    return len(line.rstrip(b"\r\n ").split(b" ")) - 1


def _checked_capacity(path: Path, count: int, dim: int, min_row_bytes: int) -> int:
    """A header's claims against the file's size: a row larger than the file is an error; the
    claimed row count only bounds the first allocation, never sets it (a 30-byte file must not
    ask for a terabyte). ``min_row_bytes``: the fewest bytes one row of ``dim`` values takes."""
    size = path.stat().st_size
    if min_row_bytes > size:
        raise ValueError(f"load_vectors: {path}:1: the header claims {dim} values per row "
                         f"({min_row_bytes}+ bytes each), but the whole file has {size} bytes")
    return min(count, size // min_row_bytes + 1)


def _load_text(path: Path, limit: int | None) -> WordVectors:
    with open(path, "rb") as f:
        first = f.readline()
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        header = _parse_header(first)
        if header is not None:
            header_count, dim = header
            first_data: list[bytes] = []
            first_number = 2
        else:  # no header (GloVe style): the rows give the dimension
            header_count = None
            first_data = [first, *itertools.islice(f, _SNIFF_ROWS - 1)]
            counts = Counter(_values_in(line) for line in first_data if line.strip())
            dim = counts.most_common(1)[0][0] if counts else 0
            first_number = 1  # a short first row is then skipped, not taken as the dimension
        if dim < 1:
            raise ValueError(f"load_vectors: {path}:1: expected a header 'N DIM' or a row "
                             f"'word v1 ... vDIM', got {first[:80]!r}")
        capacity = 1 << 16 if header_count is None else \
            _checked_capacity(path, header_count, dim, 2 * dim + 1)  # "w 0 0 ...": 2 bytes a value
        if limit is not None:
            capacity = min(capacity, limit)
        loader = _Loader(path, dim, capacity, limit)
        lines = _chain_first(first_data, f) if first_data else f
        pending_words: list[str] = []
        pending_texts: list[bytes] = []
        pending_lines: list[int] = []
        data_rows = 0
        for line_number, line in enumerate(lines, start=first_number):
            line = line.rstrip(b"\r\n ")  # fastText ends rows with a space; CRLF files exist
            if not line:
                continue
            data_rows += 1
            if loader.full():
                continue  # keep counting rows for the header check
            space = line.find(b" ")
            word_bytes, text = line[:space], line[space + 1:]
            if space < 0 or text.count(b" ") != dim - 1:
                # the word may hold spaces: split from the right, DIM values
                parts = line.rsplit(b" ", dim)
                if len(parts) != dim + 1:
                    loader.skip(line_number, f"expected {dim} values, got {len(parts) - 1}")
                    continue
                word_bytes = parts[0]
                text = line[len(word_bytes) + 1:]
            word = loader.claim_word(line_number, word_bytes)
            if word is None:
                continue
            pending_words.append(word)
            pending_texts.append(text)
            pending_lines.append(line_number)
            if loader.limit is not None and len(loader.words) + len(pending_words) >= loader.limit:
                _flush(loader, pending_words, pending_texts, pending_lines)
            elif len(pending_words) * dim >= _CHUNK_VALUES:
                _flush(loader, pending_words, pending_texts, pending_lines)
        _flush(loader, pending_words, pending_texts, pending_lines)
    result = loader.result()
    if header_count is not None and limit is None and header_count != data_rows:
        result.problems.append(f"{path}:1: header says {header_count} rows, the file has "
                               f"{data_rows}")
    result.header_count = header_count
    return result


def _chain_first(first: list[bytes], rest):
    yield from first
    yield from rest


def _flush(loader: _Loader, pending_words: list[str], pending_texts: list[bytes],
           pending_lines: list[int]) -> None:
    """Parse the pending rows into the loader and empty the pending lists."""
    words, texts, lines = list(pending_words), list(pending_texts), list(pending_lines)
    pending_words.clear()
    pending_texts.clear()
    pending_lines.clear()
    if not words:
        return
    rows = _parse_rows(texts, loader.dim)
    if rows is None or not np.isfinite(rows).all():
        keep_words, keep_rows = [], []
        for word, text, line_number in zip(words, texts, lines):
            row = _parse_row(text, loader.dim)
            if row is None:
                loader.skip(line_number, "a value is not a number")
            elif not np.isfinite(row).all():
                loader.skip(line_number, "a value is not finite")
            else:
                keep_words.append(word)
                keep_rows.append(row)
        for word in set(words) - set(keep_words):
            loader.seen.discard(word)  # a later sound row of the same word may be kept
        words, rows = keep_words, (np.stack(keep_rows) if keep_rows else None)
    if words:
        room = len(words) if loader.limit is None else loader.limit - len(loader.words)
        loader.add(words[:room], rows[:room])


def _load_binary(path: Path, limit: int | None) -> WordVectors:
    data = path.read_bytes()
    end = data.find(b"\n")
    header = _parse_header(data[:end].lstrip(b"\xef\xbb\xbf")) if end >= 0 else None
    if header is None:
        raise ValueError(f"load_vectors: {path}:1: expected a word2vec binary header 'N DIM', "
                         f"got {data[:80]!r}")
    count, dim = header
    if dim < 1:
        raise ValueError(f"load_vectors: {path}:1: the header claims {dim} values per row")
    capacity = _checked_capacity(path, count, dim, 4 * dim + 2)  # a 1-byte word, space, floats
    loader = _Loader(path, dim, min(capacity, limit) if limit else capacity, limit)
    position = end + 1
    row_bytes = 4 * dim
    for record in range(1, count + 1):
        if loader.full():
            break
        space = data.find(b" ", position)
        if space < 0 or space + 1 + row_bytes > len(data):
            loader.skip(record, f"record {record} is truncated (header says {count} records)")
            break
        word_bytes = data[position:space].lstrip(b"\n")
        row = np.frombuffer(data, dtype="<f4", count=dim, offset=space + 1)
        position = space + 1 + row_bytes
        if not np.isfinite(row).all():  # checked first: a later sound row may keep the word
            loader.skip(record, "a value is not finite")
            continue
        word = loader.claim_word(record, word_bytes)
        if word is not None:
            loader.add([word], row[None, :])
    result = loader.result()
    result.header_count = count
    return result


def load_vectors(path: str | os.PathLike, limit: int | None = None,
                 binary: bool | None = None) -> WordVectors:
    """Load a fastText/word2vec text `.vec` or a word2vec binary (`binary`, default: the name ends
    in `.bin`). Keeps the first `limit` sound rows. Never fails on one bad row: it is skipped,
    counted in `.skipped`/`.skip_reasons`, and described in `.problems` (file and line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_vectors: no such file: {path}")
    if limit is not None and limit < 1:
        raise ValueError(f"load_vectors: expected limit >= 1 or None, got {limit}")
    binary = path.suffix == ".bin" if binary is None else binary
    result = _load_binary(path, limit) if binary else _load_text(path, limit)
    if not len(result) and result.skipped:
        reasons = "; ".join(f"{n} x {why}" for why, n in result.skip_reasons.items())
        raise ValueError(f"load_vectors: {path}: every row was skipped, no word kept ({reasons})"
                         f"; is the dimension {result.dim} right?")
    return result
