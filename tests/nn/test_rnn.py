"""RNN (tanh / relu), LSTM, GRU: outputs and gradients as PyTorch's in float64
(tests/fixtures/nn/rnn.npz; LSTM with projections: nn/rnn_proj.npz), gradient checks,
parameter names, initialisation, dropout, errors and learning tests."""

from pathlib import Path

import numpy as np
import pytest
from cases_rnn import CASES, HIDDEN_SIZE, INPUT_SIZE, PROJ_CASES, run
from dlpy.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dlpy import Tensor, nn, optim
from dlpy import functional as F
from dlpy.testing import gradcheck

from .reference import check_rnn_gradients, load_grouped

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "nn" / "rnn.npz"
PROJ_FIXTURE = FIXTURE.with_name("rnn_proj.npz")

@pytest.fixture(scope="module")
def torch_cases():
    """{case: {"state": {...}, "input": ..., "grad:<name>": ..., ...}} in the file's order."""
    return load_grouped(FIXTURE)


def build(case: str, **extra):
    cls, settings, _, _ = CASES[case]
    return getattr(nn, cls)(INPUT_SIZE, HIDDEN_SIZE, **settings, **extra)


def sum_of_squares(*tensors):
    total = None
    for t in tensors:
        term = (t * t).sum()
        total = term if total is None else total + term
    return total


def test_every_fixture_case_is_tested(torch_cases):
    assert set(torch_cases) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_outputs_and_gradients_match_torch(case, torch_cases):
    reference = torch_cases[case]
    model = build(case, dtype=np.float64)
    # the same names in the same order as torch's state dict, so it loads unchanged
    assert [name for name, _ in model.named_parameters()] == list(reference["state"])
    model.load_state_dict(reference["state"])
    x = Tensor(reference["input"], requires_grad=True)
    states = {k: Tensor(reference[k], requires_grad=True) for k in ("h0", "c0")
              if k in reference}
    output, finals = run(CASES[case][0], model, x, states)
    check = {"output": output, **finals}
    for name, t in check.items():
        assert t.dtype == np.float64
        np.testing.assert_allclose(t.data, reference[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    sum_of_squares(*check.values()).backward()
    check_rnn_gradients(reference, model, x, states)


@pytest.fixture(scope="module")
def torch_proj_cases():
    return load_grouped(PROJ_FIXTURE)


def test_every_projection_case_is_tested(torch_proj_cases):
    assert set(torch_proj_cases) == set(PROJ_CASES)


@pytest.mark.parametrize("case", list(PROJ_CASES))
def test_lstm_with_projections_matches_torch(case, torch_proj_cases):
    reference = torch_proj_cases[case]
    cls, settings, _, _, lengths = PROJ_CASES[case]
    model = nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, **settings, dtype=np.float64)
    assert [name for name, _ in model.named_parameters()] == list(reference["state"])
    model.load_state_dict(reference["state"])
    x = Tensor(reference["input"], requires_grad=True)
    states = {k: Tensor(reference[k], requires_grad=True) for k in ("h0", "c0")
              if k in reference}
    batch_first = settings.get("batch_first", False)
    given = x if lengths is None else pack_padded_sequence(x, lengths, batch_first=batch_first,
                                                           enforce_sorted=False)
    output, finals = run(cls, model, given, states)
    if lengths is not None:
        output, _ = pad_packed_sequence(output, batch_first=batch_first)
    check = {"output": output, **finals}
    for name, t in check.items():
        np.testing.assert_allclose(t.data, reference[name], rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    sum_of_squares(*check.values()).backward()
    check_rnn_gradients(reference, model, x, states)


def test_projection_parameters_and_shapes():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
    shapes = dict(lstm.named_parameters())
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                "weight_hr_l0"]
    assert shapes["weight_hh_l0"].shape == (20, 2)
    assert shapes["weight_hr_l0_reverse"].shape == (2, 5)
    assert shapes["weight_ih_l1"].shape == (20, 4)  # 2 directions * proj_size
    output, (h_n, c_n) = lstm(np.zeros((6, 3, 3), dtype=np.float32))
    assert output.shape == (6, 3, 4) and h_n.shape == (4, 3, 2) and c_n.shape == (4, 3, 5)
    assert repr(lstm) == "LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=True)"
    with pytest.raises(ValueError, match=r"expected h0 of shape \(4, 3, 2\) \(num_layers \* "
                                         r"num_directions, batch, proj_size\), got \(4, 3, 5\)"):
        lstm(np.zeros((6, 3, 3), dtype=np.float32), (c_n.data, c_n.data))


def test_parameter_names_and_shapes_are_torchs():
    lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
             "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse",
             "bias_hh_l0_reverse",
             "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1",
             "weight_ih_l1_reverse", "weight_hh_l1_reverse", "bias_ih_l1_reverse",
             "bias_hh_l1_reverse"]
    shapes = dict(lstm.named_parameters())
    assert list(shapes) == names
    assert shapes["weight_ih_l0"].shape == (20, 3)
    assert shapes["weight_hh_l0"].shape == (20, 5)
    assert shapes["bias_ih_l0"].shape == (20,)
    assert shapes["weight_ih_l1_reverse"].shape == (20, 10)
    gru = nn.GRU(2, 3, bias=False)
    assert [(n, p.shape) for n, p in gru.named_parameters()] == [
        ("weight_ih_l0", (9, 2)), ("weight_hh_l0", (9, 3))]
    assert [p.shape for p in nn.RNN(2, 3).parameters()] == [(3, 2), (3, 3), (3,), (3,)]


def test_initialisation_is_torchs_uniform_from_the_given_generator():
    model = nn.GRU(3, 16, num_layers=2, rng=np.random.default_rng(0))
    again = nn.GRU(3, 16, num_layers=2, rng=np.random.default_rng(0))
    for p, q in zip(model.parameters(), again.parameters()):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, q.data)
        assert np.abs(p.data).max() <= 0.25 and np.abs(p.data).max() > 0.2  # 1/sqrt(16)
    other = nn.GRU(3, 16, num_layers=2, rng=np.random.default_rng(1))
    assert not np.array_equal(model.weight_ih_l0.data, other.weight_ih_l0.data)
    assert nn.LSTM(2, 3, dtype=np.float64).weight_hh_l0.dtype == np.float64


def test_output_shapes_and_float32():
    rng = np.random.default_rng(0)
    lstm = nn.LSTM(3, 4, num_layers=3, bidirectional=True, batch_first=True, rng=rng)
    x = rng.standard_normal((2, 7, 3)).astype(np.float32)
    output, (h_n, c_n) = lstm(x)
    assert output.shape == (2, 7, 8) and output.dtype == np.float32
    assert h_n.shape == c_n.shape == (6, 2, 4)
    # the last layer's final states are the output's ends: forward at t = L-1, reverse at 0
    np.testing.assert_allclose(h_n.data[4], output.data[:, -1, :4])
    np.testing.assert_allclose(h_n.data[5], output.data[:, 0, 4:])
    output, h_n = nn.RNN(3, 4, rng=rng)(x[0])  # unbatched (L, H_in)
    assert output.shape == (7, 4) and h_n.shape == (1, 4)


def test_unbatched_is_a_batch_of_one():
    rng = np.random.default_rng(1)
    gru = nn.GRU(3, 4, num_layers=2, rng=rng, dtype=np.float64)
    x, h0 = rng.standard_normal((5, 3)), rng.standard_normal((2, 4))
    output, h_n = gru(x, h0)
    batched, h_batched = gru(x[:, None], h0[:, None])
    np.testing.assert_allclose(output.data, batched.data[:, 0], rtol=1e-12)
    np.testing.assert_allclose(h_n.data, h_batched.data[:, 0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_gradcheck_tiny(kind):
    rng = np.random.default_rng(2)
    model = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, rng=rng,
                              dtype=np.float64)
    x = Tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((4, 2, 3)) * 0.5, requires_grad=True)
    c0 = Tensor(rng.standard_normal((4, 2, 3)) * 0.5, requires_grad=True)

    def run(x, h0, c0, *params):
        if kind == "LSTM":
            output, (h_n, c_n) = model(x, (h0, c0))
            return F.concat([F.flatten(output), F.flatten(h_n), F.flatten(c_n)])
        output, h_n = model(x, h0)
        return F.concat([F.flatten(output), F.flatten(h_n)])

    c0.requires_grad = kind == "LSTM"
    assert gradcheck(run, x, h0, c0, *model.parameters())


def test_dropout_between_layers_only_while_training():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 3))
    plain = nn.LSTM(3, 4, num_layers=2, rng=np.random.default_rng(0), dtype=np.float64)
    dropped = nn.LSTM(3, 4, num_layers=2, dropout=0.5, rng=np.random.default_rng(0),
                      dtype=np.float64)
    dropped.eval()
    np.testing.assert_array_equal(dropped(x)[0].data, plain(x)[0].data)
    dropped.train()
    assert not np.allclose(dropped(x)[0].data, plain(x)[0].data)
    # one layer: nothing to drop between
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        single = nn.GRU(3, 4, dropout=0.5, rng=np.random.default_rng(0), dtype=np.float64)
    again = nn.GRU(3, 4, rng=np.random.default_rng(0), dtype=np.float64)
    np.testing.assert_array_equal(single(x)[0].data, again(x)[0].data)


@pytest.mark.parametrize("make, error, match", [
    (lambda: nn.RNN(3, 4, nonlinearity="sigmoid"), ValueError, "nonlinearity must be"),
    (lambda: nn.GRU(3, 0), ValueError, "hidden_size must be >= 1, got 0"),
    (lambda: nn.LSTM(3, 4, num_layers=0), ValueError, "num_layers must be >= 1"),
    (lambda: nn.LSTM(3.0, 4), TypeError, "input_size must be an int, got float"),
    (lambda: nn.GRU(3, 4, 2, dropout=1.5), ValueError, r"dropout must be a number in \[0, 1\]"),
    (lambda: nn.RNN(3, 4, proj_size=0), ValueError, "proj_size argument is only supported"),
    (lambda: nn.GRU(3, 4, proj_size=1), ValueError, "proj_size argument is only supported"),
    (lambda: nn.RNN(3, 4, batch_first=1), TypeError, "batch_first must be True or False"),
    (lambda: nn.LSTM(3, 4, proj_size=4), ValueError,
     r"proj_size must be smaller than hidden_size \(4\), got 4"),
    (lambda: nn.LSTM(3, 4, proj_size=-1), ValueError, "proj_size must be >= 0, got -1"),
    (lambda: nn.LSTM(3, 4, proj_size=1.5), TypeError, "proj_size must be an int, got float"),
])
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_forward_errors():
    lstm = nn.LSTM(3, 4, num_layers=2)
    x = np.zeros((5, 2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=r"expected input of 3 dimensions .* got shape \(5,\)"):
        lstm(np.zeros(5, dtype=np.float32))
    with pytest.raises(ValueError, match=r"input.shape\[-1\] == input_size == 3, got shape"):
        lstm(np.zeros((5, 2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="at least one step"):
        lstm(np.zeros((0, 2, 3), dtype=np.float32))
    h = np.zeros((2, 2, 4), dtype=np.float32)
    with pytest.raises(TypeError, match=r"hx must be a tuple \(h0, c0\), got ndarray"):
        lstm(x, h)
    with pytest.raises(TypeError, match="both h0 and c0"):
        lstm(x, (h, None))
    with pytest.raises(ValueError, match=r"expected c0 of shape \(2, 2, 4\) .* got \(1, 2, 4\)"):
        lstm(x, (h, h[:1]))
    gru = nn.GRU(3, 4, bidirectional=True, batch_first=True)
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 5, 4\) .* got \(1, 5, 4\)"):
        gru(x, np.zeros((1, 5, 4), dtype=np.float32))  # batch-first: N = 5
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 4\)"):
        gru(x[:, 0], np.zeros((2, 1, 4), dtype=np.float32))  # unbatched needs a 2-D h0


def test_lstm_learns_the_last_but_one_element():
    rng = np.random.default_rng(0)
    lstm = nn.LSTM(1, 16, rng=rng)
    head = nn.Linear(16, 1, rng=rng)
    opt = optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.02)

    def predict(x):
        output, _ = lstm(x)  # (L, N, 16)
        return head(output[-1])  # (N, 1)

    for _ in range(250):
        x = rng.uniform(-1, 1, (5, 32, 1)).astype(np.float32)
        loss = F.mse_loss(predict(x), x[-2])
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = rng.uniform(-1, 1, (5, 256, 1)).astype(np.float32)
    # the variance of the target is 1/3; the last element alone explains none of it
    assert F.mse_loss(predict(x), x[-2]).item() < 0.01


def test_char_level_lstm_overfits_a_sentence():
    """Embedding -> LSTM -> Linear predicting the next character of one short sentence: it
    must learn it by heart (every next character right, the loss near zero)."""
    text = "hello, recurrent world"
    chars = sorted(set(text))
    ids = np.array([chars.index(ch) for ch in text])
    rng = np.random.default_rng(0)
    embed = nn.Embedding(len(chars), 8, rng=rng)
    lstm = nn.LSTM(8, 32, rng=rng)
    head = nn.Linear(32, len(chars), rng=rng)
    opt = optim.Adam([*embed.parameters(), *lstm.parameters(), *head.parameters()], lr=0.02)
    inputs, targets = ids[:-1, None], ids[1:]  # (L, 1): a batch of one sequence

    def logits():
        output, _ = lstm(embed(inputs))  # (L, 1, 32)
        return head(output[:, 0])  # (L, chars)

    for _ in range(80):
        loss = F.cross_entropy(logits(), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    np.testing.assert_array_equal(logits().data.argmax(-1), targets)


def test_flatten_parameters_is_torchs_no_op():
    # torch programs call it after loading a model (cuDNN's weight buffer); on the CPU nothing
    lstm = nn.LSTM(3, 4, 2)
    before = [p.data.copy() for p in lstm.parameters()]
    assert lstm.flatten_parameters() is None
    for p, old in zip(lstm.parameters(), before):
        np.testing.assert_array_equal(p.data, old)


def test_dtype_mismatch_raises_as_torchs():
    # torch never promotes an RNN's input or state to the weights' dtype: it raises
    gru = nn.GRU(3, 4).double()
    with pytest.raises(ValueError, match=r"GRU: input dtype \(float32\) does not match the "
                                         r"weights' dtype \(float64\)"):
        gru(np.zeros((2, 1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"RNN: input dtype \(int64\)"):
        nn.RNN(3, 4)(np.zeros((2, 1, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"LSTM: c0 dtype \(float64\)"):
        h = np.zeros((1, 1, 4), dtype=np.float32)
        nn.LSTM(3, 4)(np.zeros((2, 1, 3), dtype=np.float32), (h, h.astype(np.float64)))
    with pytest.raises(ValueError, match=r"GRUCell: hx dtype \(float32\)"):
        nn.GRUCell(3, 4).double()(np.zeros((1, 3)), np.zeros((1, 4), dtype=np.float32))


def test_all_weights_and_device():
    lstm = nn.LSTM(2, 3, 2, bidirectional=True, proj_size=1, device="cpu")
    assert lstm._all_weights[1] == ["weight_ih_l0_reverse", "weight_hh_l0_reverse",
                                    "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                                    "weight_hr_l0_reverse"]
    assert [p for layer in lstm.all_weights for p in layer] == list(lstm.parameters())
    with pytest.raises(RuntimeError, match="GRUCell: device='cuda'"):
        nn.GRUCell(2, 3, device="cuda")
