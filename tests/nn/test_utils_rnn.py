"""dlpy.nn.utils.rnn: pad_sequence, pack_padded_sequence / pad_packed_sequence,
PackedSequence, unpad/pack/unpack_sequence, and RNN / LSTM / GRU on packed batches, against
PyTorch (tests/fixtures/habits/autograd_extensions.npz and tests/fixtures/nn/packed_rnn.npz,
made by tests/fixtures/make_autograd_extension_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest
from cases_rnn import HIDDEN_SIZE, INPUT_SIZE, PACKED_CASES, run
from dlpy.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)

import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.testing import gradcheck

from .reference import check_rnn_gradients, load_grouped

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

@pytest.fixture(scope="module")
def padding_ref():
    with np.load(FIXTURES / "habits" / "autograd_extensions.npz") as data:
        return {k[len("pad:"):]: data[k] for k in data.files if k.startswith("pad:")}


@pytest.fixture(scope="module")
def packed_ref():
    return load_grouped(FIXTURES / "nn" / "packed_rnn.npz")


@pytest.mark.parametrize("key,kwargs", [
    ("right", {}),
    ("left_batch_first", {"batch_first": True, "padding_side": "left", "padding_value": -1.0}),
])
def test_pad_sequence_matches_torch(key, kwargs, padding_ref):
    sequences = [Tensor(padding_ref[f"seq{i}"], requires_grad=True) for i in range(3)]
    padded = pad_sequence(sequences, **kwargs)
    np.testing.assert_array_equal(padded.data, padding_ref[key])
    (padded * Tensor(padding_ref[f"{key}:w"])).sum().backward()
    for i, s in enumerate(sequences):
        np.testing.assert_array_equal(s.grad, padding_ref[f"{key}:grad{i}"])


def test_pad_sequence_gradcheck_and_shapes():
    rng = np.random.default_rng(0)
    sequences = [Tensor(rng.standard_normal((n, 2, 3)), requires_grad=True) for n in (3, 1, 2)]
    assert gradcheck(lambda *s: pad_sequence(list(s), batch_first=True), *sequences)
    assert pad_sequence(sequences).shape == (3, 3, 2, 3)
    assert pad_sequence([np.ones(2, dtype=np.float32)]).dtype == np.float32


def test_pack_and_pad_round_trip_with_gradients():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((4, 3, 2)), requires_grad=True)  # (T, B, *)
    packed = pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False)
    np.testing.assert_array_equal(packed.batch_sizes, [3, 2, 1, 1])
    np.testing.assert_array_equal(packed.sorted_indices, [1, 0, 2])
    np.testing.assert_array_equal(packed.unsorted_indices, [1, 0, 2])
    # time step after time step, the longest sequence first
    order = [(0, 1), (0, 0), (0, 2), (1, 1), (1, 0), (2, 1), (3, 1)]
    np.testing.assert_array_equal(packed.data.data, [x.data[t, b] for t, b in order])
    padded, lengths = pad_packed_sequence(packed, padding_value=9.0, total_length=5)
    assert padded.shape == (5, 3, 2) and lengths.tolist() == [2, 4, 1]
    # int64 Tensors, as torch's (which hands out tensor([3, 2, 1, 1]), never numpy arrays)
    for t in (packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices, lengths):
        assert isinstance(t, Tensor) and t.dtype == np.int64 and not t.requires_grad
    keep = np.arange(5)[:, None] < lengths[None, :]  # (T, B)
    np.testing.assert_array_equal(padded.data[:4][keep[:4]], x.data[keep[:4]])
    assert (padded.data[~keep] == 9.0).all()
    padded.sum().backward()
    np.testing.assert_array_equal(x.grad, np.broadcast_to(keep[:4, :, None], x.shape))
    data, batch_sizes, sorted_indices, unsorted_indices = packed  # a named tuple, as torch's
    assert data is packed.data
    assert gradcheck(lambda x: pack_padded_sequence(x, [1, 2, 4], batch_first=True,
                                                    enforce_sorted=False).data,
                     Tensor(rng.standard_normal((3, 4, 2)), requires_grad=True))


def test_pack_sequence_unpack_and_unpad():
    rng = np.random.default_rng(2)
    sequences = [Tensor(rng.standard_normal((n, 2))) for n in (2, 3, 1)]
    packed = pack_sequence(sequences, enforce_sorted=False)
    for a, b in zip(unpack_sequence(packed), sequences):
        np.testing.assert_array_equal(a.data, b.data)
    padded = pad_sequence(sequences, batch_first=True)
    for a, b in zip(unpad_sequence(padded, [2, 3, 1], batch_first=True), sequences):
        np.testing.assert_array_equal(a.data, b.data)
    sorted_packed = pack_sequence([sequences[1], sequences[0], sequences[2]])
    assert sorted_packed.sorted_indices is None and sorted_packed.unsorted_indices is None
    rebuilt = PackedSequence(packed.data, packed.batch_sizes, packed.sorted_indices)
    assert rebuilt.unsorted_indices.tolist() == packed.unsorted_indices.tolist() == [1, 0, 2]
    assert isinstance(rebuilt.batch_sizes, Tensor) and "batch_sizes=tensor([" in repr(rebuilt)


def test_errors():
    x = Tensor(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"lengths must be sorted in decreasing order when "
                                         r"enforce_sorted=True, got \[2, 4, 1\]"):
        pack_padded_sequence(x, [2, 4, 1])
    with pytest.raises(ValueError, match=r"every length must be > 0, got \[2, 0, 1\]"):
        pack_padded_sequence(x, [2, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match="a length of 5 is longer than the input's 4 steps"):
        pack_padded_sequence(x, [5, 1, 1])
    with pytest.raises(ValueError, match="2 lengths for a batch of 3"):
        pack_padded_sequence(x, [2, 1])
    with pytest.raises(TypeError, match="lengths must be a 1-D sequence of integers"):
        pack_padded_sequence(x, [[2, 1, 1]])
    # float lengths are truncated to int64, as torch's as_tensor(lengths, dtype=torch.int64)
    assert pack_padded_sequence(x, [2.7, 1.0, 1.0]).batch_sizes.tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"total_length \(2\) is shorter than the longest "
                                         r"sequence \(4 steps\)"):
        pad_packed_sequence(pack_padded_sequence(x, [4, 2, 1]), total_length=2)
    with pytest.raises(ValueError, match="padding_side must be 'left' or 'right'"):
        pad_sequence([x], padding_side="middle")
    with pytest.raises(ValueError, match=r"sequence 1 has \(2, 3\)"):
        pad_sequence([Tensor(np.zeros((2, 2))), Tensor(np.zeros((2, 3)))])
    with pytest.raises(ValueError, match="data has 3 rows, batch_sizes sum to 4"):
        PackedSequence(Tensor(np.zeros((3, 2))), [2, 2])


def test_every_packed_fixture_case_is_tested(packed_ref):
    assert set(packed_ref) == set(PACKED_CASES)


@pytest.mark.parametrize("case", list(PACKED_CASES))
def test_recurrent_layers_on_packed_sequences_match_torch(case, packed_ref):
    reference = packed_ref[case]
    cls, settings, lengths, enforce_sorted, _ = PACKED_CASES[case]
    model = getattr(nn, cls)(INPUT_SIZE, HIDDEN_SIZE, **settings, dtype=np.float64)
    model.load_state_dict(reference["state"])
    batch_first = settings.get("batch_first", False)
    x = Tensor(reference["input"], requires_grad=True)
    states = {k: Tensor(reference[k], requires_grad=True) for k in ("h0", "c0")
              if k in reference}
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first,
                                  enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(packed.data.data, reference["packed_data"])
    np.testing.assert_array_equal(packed.batch_sizes, reference["batch_sizes"])
    if "sorted_indices" in reference:
        np.testing.assert_array_equal(packed.sorted_indices, reference["sorted_indices"])
    output, finals = run(cls, model, packed, states)
    assert isinstance(output, PackedSequence)
    np.testing.assert_array_equal(output.batch_sizes, packed.batch_sizes)
    np.testing.assert_allclose(output.data.data, reference["output_data"], rtol=1e-10,
                               atol=1e-12)
    padded, out_lengths = pad_packed_sequence(output, batch_first=batch_first)
    np.testing.assert_allclose(padded.data, reference["padded"], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out_lengths, reference["out_lengths"])
    for name, t in finals.items():
        np.testing.assert_allclose(t.data, reference[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    loss = (padded * Tensor(reference["w"])).sum()
    for t in finals.values():
        loss = loss + (t * t).sum()
    loss.backward()
    check_rnn_gradients(reference, model, x, states)


def test_packed_input_equals_running_each_sequence_alone():
    rng = np.random.default_rng(3)
    gru = nn.GRU(2, 3, bidirectional=True, rng=rng, dtype=np.float64)
    sequences = [Tensor(rng.standard_normal((n, 2))) for n in (4, 1, 3)]
    output, h_n = gru(pack_sequence(sequences, enforce_sorted=False))
    for b, (s, out) in enumerate(zip(sequences, unpack_sequence(output))):
        alone, h_alone = gru(s)  # unbatched (L, H_in)
        np.testing.assert_allclose(out.data, alone.data, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(h_n.data[:, b], h_alone.data, rtol=1e-12, atol=1e-14)


def test_an_lstm_on_packed_sequences_learns_their_lengths():
    """A tiny LSTM classifier must tell apart how long its (identical-looking) inputs are:
    only possible if the final state is taken at each sequence's own end."""
    rng = np.random.default_rng(4)
    lstm = nn.LSTM(1, 8, rng=rng)
    head = nn.Linear(8, 3, rng=rng)
    from dlpy import optim

    opt = optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.05)
    lengths = np.array([1, 3, 5] * 4)
    labels = np.array([0, 1, 2] * 4)
    x = Tensor(np.ones((5, len(lengths), 1), dtype=np.float32))  # the padding is ones too
    for _ in range(60):
        _, (h_n, _) = lstm(pack_padded_sequence(x, lengths, enforce_sorted=False))
        loss = F.cross_entropy(head(h_n[0]), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
