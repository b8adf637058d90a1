"""``torch.nn.utils.rnn`` as dlpy spells it (``dlpy.nn.utils.rnn``): padding a batch of
sequences of different lengths, and packing it so that ``nn.RNN``/``LSTM``/``GRU`` skip the
padded steps.

    padded = pad_sequence([a, b, c])                       # (T, 3, *), zeros after each end
    packed = pack_padded_sequence(padded, [5, 3, 2])       # lengths sorted, or enforce_sorted=False
    output, h_n = gru(packed)                              # h_n taken at each sequence's end
    output, lengths = pad_packed_sequence(output)          # (T, 3, hidden), lengths [5, 3, 2]

A ``PackedSequence`` holds ``data`` (the valid steps, time step after time step, the longest
sequence first within a step), ``batch_sizes`` (how many sequences are still running at each
step) and, for unsorted input, ``sorted_indices``/``unsorted_indices``: int64 Tensors, as
torch's (``pad_packed_sequence``'s lengths too). Every function here is one gather (a getitem
with index arrays, after a concat with a padding row where padding is needed), so gradients
reach each sequence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dlpy import functional as F
from dlpy.tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence", "pad_sequence", "unpack_sequence", "unpad_sequence"]


class _SequenceArgError(RuntimeError, ValueError):
    """Bad lengths or sequences: torch's RuntimeError (its class first, as `type(e)`'s builtin
    base), a ValueError to dlpy."""


class _SequenceIndexError(_SequenceArgError, IndexError):
    """More lengths than sequences, unsorted: a _SequenceArgError, and the IndexError of
    torch's ``index_select`` of the batch in the sorted order."""


class _ShortInputError(ValueError, IndexError):
    """pack_padded_sequence of an input of fewer than 2 axes: a ValueError, and the IndexError
    of torch's ``input.size(1)``."""


class _NotPackedError(TypeError, AttributeError):
    """pad_packed_sequence of something not a PackedSequence: a TypeError, and the
    AttributeError of torch's ``sequence.batch_sizes``."""


class _LengthsTypeError(RuntimeError, TypeError):
    """Lengths that are not a 1-D sequence of integers: torch's RuntimeError, a TypeError to
    dlpy."""


def _int_array(name: str, what: str, values, floats: bool = False) -> np.ndarray:
    """values as a 1-D int64 array; ``floats``: float values are truncated, as torch's
    ``as_tensor(lengths, dtype=torch.int64)``."""
    array = np.asarray(values.data if isinstance(values, Tensor) else values)
    kinds = "iuf" if floats else "iu"
    if array.ndim != 1 or (array.size and array.dtype.kind not in kinds):
        raise _LengthsTypeError(f"{name}: {what} must be a 1-D sequence of integers, got "
                                f"{array.dtype} of shape {array.shape}")
    return array.astype(np.int64)


def _index_tensor(array: np.ndarray | None) -> Tensor | None:
    """An int64 Tensor of ``array`` (None stays None): how torch hands out sizes and orders."""
    return None if array is None else Tensor(np.asarray(array, dtype=np.int64))


def _index_field(what: str, values) -> Tensor | None:
    """A PackedSequence field: an int64 Tensor is kept as it is (the same object, as torch
    keeps it), anything else becomes one."""
    if values is None or (isinstance(values, Tensor) and values.dtype == np.int64
                          and values.ndim == 1):
        return values
    return _index_tensor(_int_array("PackedSequence", what, values))


def _values(t: Tensor | None) -> np.ndarray | None:
    return None if t is None else t.data


class PackedSequence(tuple):
    """(data, batch_sizes, sorted_indices, unsorted_indices), a named tuple as torch's.

    data: (sum of lengths, *) Tensor; batch_sizes: int64 Tensor, one per time step;
    sorted_indices: int64 Tensor, the batch positions by decreasing length (None: already
    sorted); unsorted_indices: its inverse (computed when not given). Lists, arrays and
    Tensors of integers are accepted.
    """

    __slots__ = ()
    _fields = ("data", "batch_sizes", "sorted_indices", "unsorted_indices")  # a namedtuple's

    def __new__(cls, data: Tensor, batch_sizes, sorted_indices=None, unsorted_indices=None):
        if not isinstance(data, Tensor):
            data = Tensor(np.asarray(data))
        batch_sizes = _index_field("batch_sizes", batch_sizes)
        rows = int(batch_sizes.data.sum())
        if data.ndim == 0 or data.shape[0] != rows:
            raise ValueError(f"PackedSequence: data has {data.shape[0] if data.ndim else 0} "
                             f"rows, batch_sizes sum to {rows}")
        sorted_indices = _index_field("sorted_indices", sorted_indices)
        if sorted_indices is not None and unsorted_indices is None:
            unsorted_indices = np.argsort(sorted_indices.data, kind="stable")
        return super().__new__(cls, (data, batch_sizes, sorted_indices,
                                     _index_field("unsorted_indices", unsorted_indices)))

    def _asdict(self) -> dict:
        """The fields by name, a namedtuple's ``_asdict``."""
        return dict(zip(self._fields, self))

    def _replace(self, **fields) -> PackedSequence:
        """A copy with some fields replaced, a namedtuple's ``_replace`` (no checks, as
        torch's)."""
        unknown = set(fields) - set(self._fields)
        if unknown:
            raise ValueError(f"Got unexpected field names: {sorted(unknown)!r}")
        return tuple.__new__(type(self), [fields.get(k, v) for k, v in zip(self._fields, self)])

    @property
    def data(self) -> Tensor:
        return self[0]

    @property
    def batch_sizes(self) -> Tensor:
        return self[1]

    @property
    def sorted_indices(self) -> Tensor | None:
        return self[2]

    @property
    def unsorted_indices(self) -> Tensor | None:
        return self[3]

    def __repr__(self) -> str:
        return (f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
                f"sorted_indices={self.sorted_indices!r}, "
                f"unsorted_indices={self.unsorted_indices!r})")

    def __getnewargs__(self):
        return tuple(self)

    def with_data(self, data: Tensor) -> PackedSequence:
        """The same layout around other data (an RNN's output)."""
        return PackedSequence(data, self.batch_sizes, self.sorted_indices,
                              self.unsorted_indices)

    def to(self, *args, **kwargs) -> PackedSequence:
        """``data.to(...)`` with Tensor.to's overloads (dtype, device, other tensor, keywords
        ``non_blocking``, ``copy``): self when data is unchanged, as torch's; the indices
        stay int64 (torch's ``copy=True`` raises here, dlpy's copies the data)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else self.with_data(data)

    def cpu(self, *args, **kwargs) -> PackedSequence:
        """``to(...)`` on the CPU, dlpy's only device: self unless a dtype is given."""
        return self.to(*args, **kwargs)

    def double(self) -> PackedSequence:
        return self.to(dtype=np.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=np.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=np.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=np.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=np.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=np.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=np.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=np.uint8)

    is_cuda = False

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation (a 1-D integer Tensor): how ``unsorted_indices`` follows
    from ``sorted_indices``. None stays None."""
    if permutation is None:
        return None
    order = np.asarray(permutation.data)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size, dtype=order.dtype)
    return Tensor(inverse)


def _sorted_lengths(packed: PackedSequence) -> np.ndarray:
    """Each sequence's length, in sorted order (longest first)."""
    batch_sizes = packed.batch_sizes.data
    return (batch_sizes[None, :] > np.arange(int(batch_sizes[0]))[:, None]).sum(axis=1)


def _packed_positions(batch_sizes: np.ndarray, sorted_indices: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(time step, batch position) of every row of a packed ``data``."""
    steps = np.repeat(np.arange(len(batch_sizes)), batch_sizes)
    ranks = np.concatenate([np.arange(n) for n in batch_sizes]) if len(batch_sizes) \
        else np.zeros(0, dtype=np.int64)
    batch = ranks if sorted_indices is None else sorted_indices[ranks]
    return steps, batch


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) whose sequence b
    is ``lengths[b]`` steps long. ``enforce_sorted``: lengths must decrease (torch's ONNX
    rule); False sorts them (stably) and records the order."""
    name = "pack_padded_sequence"
    if not isinstance(input, Tensor):
        input = Tensor(np.asarray(input))
    lengths = _int_array(name, "lengths", lengths, floats=True)
    if input.ndim < 2:
        raise _ShortInputError(f"{name}: expected input of at least 2 dimensions (T, B, *), got "
                               f"shape {input.shape}")
    steps_axis, batch_axis = (1, 0) if batch_first else (0, 1)
    batch = input.shape[batch_axis]
    if not enforce_sorted and len(lengths) > batch:
        # torch's index_select of the batch by the sorted order fails first (its IndexError)
        raise _SequenceIndexError(f"{name}: {len(lengths)} lengths for a batch of {batch} "
                                  f"(input shape {input.shape}, batch_first={batch_first})")
    if input.numel() == 0:
        raise _SequenceArgError(f"{name}: cannot pack empty tensors (input shape {input.shape}), "
                                "as torch's")
    if len(lengths) != batch:
        raise _SequenceArgError(f"{name}: {len(lengths)} lengths for a batch of "
                         f"{batch} (input shape {input.shape}, "
                         f"batch_first={batch_first})")
    if len(lengths) == 0 or lengths.min() <= 0:
        raise _SequenceArgError(f"{name}: every length must be > 0, got {lengths.tolist()}")
    if lengths.max() > input.shape[steps_axis]:
        raise _SequenceArgError(f"{name}: a length of {lengths.max()} is longer than the input's "
                         f"{input.shape[steps_axis]} steps")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise _SequenceArgError(f"{name}: lengths must be sorted in decreasing order when "
                             f"enforce_sorted=True, got {lengths.tolist()}; pass "
                             "enforce_sorted=False to have them sorted")
        sorted_indices = None
    else:
        sorted_indices = np.argsort(-lengths, kind="stable")
        lengths = lengths[sorted_indices]
    batch_sizes = (lengths[None, :] > np.arange(int(lengths[0]))[:, None]).sum(axis=1)
    steps, batch = _packed_positions(batch_sizes, sorted_indices)
    data = input[(batch, steps) if batch_first else (steps, batch)]
    # (numpy's gather keeps a strided input's trailing layout; torch's data is a fresh cat)
    return PackedSequence(data.contiguous(), batch_sizes, sorted_indices)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0, total_length: int | None = None
                        ) -> tuple[Tensor, Tensor]:
    """The padded batch (T, B, *) (or (B, T, *)) in the original batch order, and the
    lengths (an int64 Tensor, as torch's). ``total_length`` pads to that many steps."""
    name = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise _NotPackedError(f"{name}: expected a PackedSequence, got "
                              f"{type(sequence).__name__}")
    data, batch_sizes = sequence.data, sequence.batch_sizes.data
    steps_total = len(batch_sizes)
    if total_length is not None:
        if total_length < steps_total:
            raise ValueError(f"{name}: total_length ({total_length}) is shorter than the "
                             f"longest sequence ({steps_total} steps)")
        steps_total = int(total_length)
    batch = int(batch_sizes[0])
    steps, positions = _packed_positions(batch_sizes, _values(sequence.sorted_indices))
    index = np.full((steps_total, batch), data.shape[0], dtype=np.int64)  # the padding row
    index[steps, positions] = np.arange(data.shape[0])
    padding = Tensor(np.full((1,) + data.shape[1:], padding_value, dtype=data.dtype))
    padded = F.concat([data, padding], 0)
    if batch_first and sequence.unsorted_indices is not None:
        # (torch's index_select of the batch: a new (B, T, *) tensor)
        padded = padded[np.ascontiguousarray(index.T)]
    else:  # (batch_first: torch's transposed view of the time-major result)
        padded = padded[index].transpose(0, 1) if batch_first else padded[index]
    lengths = _sorted_lengths(sequence)
    if sequence.unsorted_indices is not None:
        lengths = lengths[sequence.unsorted_indices.data]
    return padded, _index_tensor(lengths)


def pad_sequence(sequences: Sequence[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences of shapes (L_i, *) into (T, B, *) (or (B, T, *)), T the longest,
    filling with ``padding_value`` after (``padding_side="right"``) or before ("left")."""
    name = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise _SequenceArgError(f"{name}: padding_side must be 'left' or 'right', got "
                         f"{padding_side!r}")
    sequences = [s if isinstance(s, Tensor) else Tensor(np.asarray(s)) for s in sequences]
    if not sequences:
        raise _SequenceArgError(f"{name}: needs at least one sequence")
    trailing = sequences[0].shape[1:]
    for i, s in enumerate(sequences):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise _SequenceArgError(f"{name}: every sequence must have shape (L, *{trailing}); "
                             f"sequence {i} has {s.shape}")
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    total, longest = int(lengths.sum()), int(lengths.max())
    index = np.full((longest, len(sequences)), total, dtype=np.int64)  # the padding row
    for b, (start, length) in enumerate(zip(starts, lengths)):
        first = 0 if padding_side == "right" else longest - length
        index[first:first + length, b] = np.arange(start, start + length)
    dtype = sequences[0].dtype  # torch's: the first sequence's, the others are cast to it
    sequences = [s if s.dtype == dtype else s.to(dtype) for s in sequences]
    padding = Tensor(np.full((1,) + trailing, padding_value, dtype=dtype))
    # (a C-ordered index: numpy's gather keeps the index's layout, torch's result is contiguous)
    index = np.ascontiguousarray(index.T) if batch_first else index
    return F.concat([*sequences, padding], 0)[index]


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False
                   ) -> list[Tensor]:
    """The sequences of a padded batch (padded on the right), each cut to its length. Time
    first (``batch_first=False``), the batch is transposed in place first, as torch's (the
    caller's tensor is left batch first; a leaf that requires grad, or a view of one, is
    refused, as torch's in-place rule)."""
    lengths = _int_array("unpad_sequence", "lengths", lengths)
    if not batch_first:
        padded_sequences.transpose_(0, 1)
    if len(lengths) != padded_sequences.shape[0]:
        raise ValueError(f"unpad_sequence: {len(lengths)} lengths for a batch of "
                         f"{padded_sequences.shape[0]}")
    # index arrays, so each sequence is a copy (torch's boolean mask), not a view; a length
    # past the padded steps takes them all, as torch's mask arange(T) < length
    steps = padded_sequences.shape[1]
    return [padded_sequences[b, np.arange(min(n, steps))]
            for b, n in enumerate(lengths.tolist())]


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """``pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted)``."""
    sequences = [s if isinstance(s, Tensor) else Tensor(np.asarray(s)) for s in sequences]
    lengths = [s.shape[0] if s.ndim else 0 for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths,
                                enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a PackedSequence, in the original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def packed_index(packed: PackedSequence) -> tuple[np.ndarray, np.ndarray]:
    """(time step, batch position) of each row of ``packed.data``: what an RNN uses to pack
    its padded output again."""
    return _packed_positions(packed.batch_sizes.data, _values(packed.sorted_indices))
