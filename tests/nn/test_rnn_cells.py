"""RNNCell, LSTMCell, GRUCell: outputs and gradients over a few steps as PyTorch's in float64
(tests/fixtures/nn/rnn_cells.npz), parameters, initialisation, unbatched input, errors and a
learning test."""

from pathlib import Path

import numpy as np
import pytest
from cases_rnn import CELL_CASES, HIDDEN_SIZE, INPUT_SIZE, run_cell

from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.testing import gradcheck

from .reference import check_rnn_gradients, load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "rnn_cells.npz"


@pytest.fixture(scope="module")
def torch_cases():
    return load_grouped(FIXTURE)


def test_every_fixture_case_is_tested(torch_cases):
    assert set(torch_cases) == set(CELL_CASES)


@pytest.mark.parametrize("case", list(CELL_CASES))
def test_outputs_and_gradients_match_torch(case, torch_cases):
    reference = torch_cases[case]
    cls, settings, _, _ = CELL_CASES[case]
    cell = getattr(nn, cls)(INPUT_SIZE, HIDDEN_SIZE, **settings, dtype=np.float64)
    assert [name for name, _ in cell.named_parameters()] == list(reference["state"])
    cell.load_state_dict(reference["state"])
    x = Tensor(reference["input"], requires_grad=True)
    states = {k: Tensor(reference[k], requires_grad=True) for k in ("h0", "c0")
              if k in reference}
    hs, finals = run_cell(cls, cell, x, states)
    check = {"output": F.stack(hs, 0), **finals}
    loss = None
    for name, t in check.items():
        assert t.dtype == np.float64
        np.testing.assert_allclose(t.data, reference[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
        term = (t * t).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    check_rnn_gradients(reference, cell, x, states)


def test_parameters_and_initialisation_are_torchs():
    cell = nn.LSTMCell(3, 16, rng=np.random.default_rng(0))
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (64, 3)), ("weight_hh", (64, 16)), ("bias_ih", (64,)), ("bias_hh", (64,))]
    for p in cell.parameters():
        assert p.dtype == np.float32
        assert 0.2 < np.abs(p.data).max() <= 0.25  # U(-1/sqrt(16), 1/sqrt(16))
    again = nn.LSTMCell(3, 16, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(cell.weight_hh.data, again.weight_hh.data)
    assert [p.shape for p in nn.GRUCell(2, 3, bias=False).parameters()] == [(9, 2), (9, 3)]
    assert [p.shape for p in nn.RNNCell(2, 3).parameters()] == [(3, 2), (3, 3), (3,), (3,)]
    assert repr(nn.RNNCell(2, 3, bias=False, nonlinearity="relu")) == \
        "RNNCell(2, 3, bias=False, nonlinearity=relu)"  # unquoted, as torch's


@pytest.mark.parametrize("cls", ["LSTMCell", "GRUCell", "RNNCell"])
def test_unbatched_is_a_batch_of_one_and_a_missing_state_is_zeros(cls):
    rng = np.random.default_rng(1)
    cell = getattr(nn, cls)(3, 4, rng=rng, dtype=np.float64)
    x, h = rng.standard_normal(3), rng.standard_normal(4)
    state = (h, rng.standard_normal(4)) if cls == "LSTMCell" else h
    batched_state = tuple(s[None] for s in state) if cls == "LSTMCell" else h[None]
    alone, batched = cell(x, state), cell(x[None], batched_state)
    zeros = (np.zeros(4), np.zeros(4)) if cls == "LSTMCell" else np.zeros(4)
    from_zeros, default = cell(x, zeros), cell(x)
    if cls != "LSTMCell":
        alone, batched, from_zeros, default = (alone,), (batched,), (from_zeros,), (default,)
    for a, b, z, d in zip(alone, batched, from_zeros, default):
        assert a.shape == (4,)
        np.testing.assert_allclose(a.data, b.data[0], rtol=1e-12)
        np.testing.assert_array_equal(z.data, d.data)


@pytest.mark.parametrize("cls", ["LSTMCell", "GRUCell", "RNNCell"])
def test_gradcheck_two_steps(cls):
    rng = np.random.default_rng(2)
    cell = getattr(nn, cls)(2, 3, rng=rng, dtype=np.float64)
    x = Tensor(rng.standard_normal((2, 2, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((2, 3)) * 0.5, requires_grad=True)

    def run(x, h0, *params):
        state = (h0, h0 * 0.5) if cls == "LSTMCell" else h0
        for t in range(2):
            state = cell(x[t], state)
        return F.concat([F.flatten(s) for s in state]) if cls == "LSTMCell" else state

    assert gradcheck(run, x, h0, *cell.parameters())


@pytest.mark.parametrize("make, error, match", [
    # an unknown nonlinearity is refused at the call, as torch's
    (lambda: nn.RNNCell(3, 4, nonlinearity="gelu")(Tensor(np.zeros((2, 3)))), RuntimeError,
     "RNNCell: unknown nonlinearity 'gelu'"),
    (lambda: nn.GRUCell(3, -1), ValueError, "GRUCell: hidden_size must be >= 0, got -1"),
    (lambda: nn.LSTMCell(3.0, 4), TypeError, "LSTMCell: input_size must be an int, got float"),
    (lambda: nn.LSTMCell(3, 4, bias=1), TypeError, "LSTMCell: bias must be True or False"),
])
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_forward_errors():
    lstm, gru = nn.LSTMCell(3, 4), nn.GRUCell(3, 4)
    x = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(batch, 3\) or "
                                         r"\(3,\), got \(2, 5, 3\)"):
        gru(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected input of shape .* got \(2, 4\)"):
        gru(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match=r"GRUCell: expected hx of shape \(2, 4\), got \(4,\)"):
        gru(x, np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"LSTMCell: expected c of shape \(4,\), got \(1, 4\)"):
        lstm(x[0], (np.zeros(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"LSTMCell: hx must be a tuple \(h, c\), got ndarray"):
        lstm(x, np.zeros((2, 4), dtype=np.float32))


def test_a_gru_cell_learns_to_count_ones():
    """Fed a sequence of 0/1 one step at a time, the cell's last state must tell how many ones
    there were (0 to 3): a learning test that fails if gradients through time are wrong."""
    rng = np.random.default_rng(0)
    cell = nn.GRUCell(1, 8, rng=rng)
    head = nn.Linear(8, 1, rng=rng)
    opt = optim.Adam([*cell.parameters(), *head.parameters()], lr=0.03)

    def predict(x):  # x (3, N, 1)
        h = None
        for t in range(3):
            h = cell(x[t], h)
        return head(h)

    for _ in range(200):
        x = rng.integers(0, 2, (3, 32, 1)).astype(np.float32)
        loss = F.mse_loss(predict(x), x.sum(0))
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = rng.integers(0, 2, (3, 256, 1)).astype(np.float32)
    assert F.mse_loss(predict(x), x.sum(0)).item() < 0.02  # the target's variance is 0.75
