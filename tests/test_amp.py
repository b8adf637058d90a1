"""Mixed precision (dlpy/amp/): autocast's op lists, bfloat16 numerics and GradScaler, checked
against PyTorch's (tests/fixtures/amp.npz, made by tests/fixtures/make_amp_fixtures.py)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.tensor import Op

ml_dtypes = pytest.importorskip("ml_dtypes")  # the dev extra installs it (dlpy[amp])
BF16 = np.dtype(ml_dtypes.bfloat16)
REF = np.load(Path(__file__).parent / "fixtures" / "amp.npz")
rng = np.random.default_rng(0)


def f32(*shape):
    return dlpy.tensor(rng.standard_normal(shape).astype(np.float32))


def b16(*shape):
    return f32(*shape).to(dlpy.bfloat16)


def prob(*shape):
    return dlpy.tensor(rng.uniform(0.05, 0.95, shape).astype(np.float32)).to(dlpy.bfloat16)


def sign(*shape):
    return dlpy.tensor((rng.integers(0, 2, shape) * 2 - 1).astype(np.float32))


def labels(*values):
    return dlpy.tensor(np.array(values, dtype=np.int64))


# the cases of make_amp_fixtures.py's OP_CASES, on inputs of the same shapes and dtypes
OP_CASES = {
    "matmul": lambda: dlpy.matmul(f32(3, 4), f32(4, 5)),
    "mm": lambda: dlpy.mm(f32(3, 4), f32(4, 5)),
    "bmm": lambda: dlpy.bmm(f32(2, 3, 4), f32(2, 4, 5)),
    "matmul_operator": lambda: f32(3, 4) @ f32(4, 5),
    "linear": lambda: F.linear(f32(3, 4), f32(5, 4), f32(5)),
    "conv1d": lambda: F.conv1d(f32(1, 2, 6), f32(3, 2, 3), f32(3)),
    "conv2d": lambda: F.conv2d(f32(1, 2, 5, 5), f32(3, 2, 3, 3), f32(3)),
    "conv3d": lambda: F.conv3d(f32(1, 2, 4, 4, 4), f32(3, 2, 2, 2, 2)),
    "conv_transpose1d": lambda: F.conv_transpose1d(f32(1, 2, 5), f32(2, 3, 3)),
    "conv_transpose2d": lambda: F.conv_transpose2d(f32(1, 2, 4, 4), f32(2, 3, 3, 3)),
    "conv_transpose3d": lambda: F.conv_transpose3d(f32(1, 2, 3, 3, 3), f32(2, 3, 2, 2, 2)),
    "addmm": lambda: dlpy.addmm(f32(3, 5), f32(3, 4), f32(4, 5)),
    "baddbmm": lambda: dlpy.baddbmm(f32(2, 3, 5), f32(2, 3, 4), f32(2, 4, 5)),
    "addbmm": lambda: dlpy.addbmm(f32(3, 5), f32(2, 3, 4), f32(2, 4, 5)),
    "prelu": lambda: F.prelu(f32(2, 3, 4), f32(3)),
    "scaled_dot_product_attention": lambda: F.scaled_dot_product_attention(
        f32(1, 2, 3, 4), f32(1, 2, 3, 4), f32(1, 2, 3, 4)),
    "mse_loss": lambda: F.mse_loss(b16(3, 4), b16(3, 4)),
    "l1_loss": lambda: F.l1_loss(b16(3, 4), b16(3, 4)),
    "smooth_l1_loss": lambda: F.smooth_l1_loss(b16(3, 4), b16(3, 4)),
    "huber_loss": lambda: F.huber_loss(b16(3, 4), b16(3, 4)),
    "nll_loss": lambda: F.nll_loss(b16(3, 4), labels(0, 3, 1)),
    "cross_entropy": lambda: F.cross_entropy(b16(3, 4), labels(0, 3, 1)),
    "binary_cross_entropy": lambda: F.binary_cross_entropy(prob(3, 4), prob(3, 4)),
    "binary_cross_entropy_with_logits": lambda: F.binary_cross_entropy_with_logits(
        b16(3, 4), prob(3, 4)),
    "kl_div": lambda: F.kl_div(b16(3, 4), prob(3, 4), reduction="batchmean"),
    "margin_ranking_loss": lambda: F.margin_ranking_loss(b16(4), b16(4), sign(4)),
    "hinge_embedding_loss": lambda: F.hinge_embedding_loss(b16(3, 4), sign(3, 4)),
    "soft_margin_loss": lambda: F.soft_margin_loss(b16(3, 4), sign(3, 4)),
    "cosine_embedding_loss": lambda: F.cosine_embedding_loss(b16(3, 4), b16(3, 4), sign(3)),
    "triplet_margin_loss": lambda: F.triplet_margin_loss(b16(3, 4), b16(3, 4), b16(3, 4)),
    "multi_margin_loss": lambda: F.multi_margin_loss(b16(3, 4), labels(0, 3, 1)),
    "poisson_nll_loss": lambda: F.poisson_nll_loss(b16(3, 4), prob(3, 4)),
    "multilabel_margin_loss": lambda: F.multilabel_margin_loss(
        b16(2, 4), dlpy.tensor(np.array([[3, 0, -1, 1], [1, -1, 0, 0]]))),
    "prod": lambda: dlpy.prod(b16(3, 4)),
    "trace": lambda: dlpy.trace(b16(3, 3)),
    "cdist": lambda: dlpy.cdist(b16(3, 4), b16(2, 4)),
    "quantile": lambda: dlpy.quantile(b16(3, 4), 0.3),
    "nanquantile": lambda: dlpy.nanquantile(b16(3, 4), 0.3),
    "avg_pool3d": lambda: F.avg_pool3d(b16(1, 2, 4, 4, 4), 2),
    "max_pool3d": lambda: F.max_pool3d(b16(1, 2, 4, 4, 4), 2),
    "adaptive_avg_pool3d": lambda: F.adaptive_avg_pool3d(b16(1, 2, 4, 4, 4), 2),
    "cat": lambda: dlpy.cat([b16(2, 3), f32(2, 3)]),
    "stack": lambda: dlpy.stack([b16(2, 3), f32(2, 3)]),
    "index_copy": lambda: dlpy.index_copy(b16(3, 4), 0, labels(2, 0), f32(2, 4)),
    "softmax": lambda: dlpy.softmax(b16(3, 4), -1),
    "log_softmax": lambda: dlpy.log_softmax(b16(3, 4), -1),
    "layer_norm": lambda: dlpy.layer_norm(b16(3, 4), (4,), b16(4), b16(4)),
    "exp": lambda: dlpy.exp(b16(3, 4)),
    "log": lambda: dlpy.log(prob(3, 4)),
    "sum": lambda: dlpy.sum(b16(3, 4)),
    "mean": lambda: dlpy.mean(b16(3, 4)),
    "relu": lambda: dlpy.relu(b16(3, 4)),
    "gelu": lambda: F.gelu(b16(3, 4)),
    "tanh": lambda: dlpy.tanh(b16(3, 4)),
    "add_mixed": lambda: dlpy.add(f32(3, 4), b16(3, 4)),
    "mul_mixed": lambda: dlpy.mul(b16(3, 4), f32(3, 4)),
    "exp_float32": lambda: dlpy.exp(f32(3, 4)),
    "sum_float32": lambda: dlpy.sum(f32(3, 4)),
    "batch_norm_mixed": lambda: F.batch_norm(b16(2, 3, 4, 4), np.zeros(3, np.float32),
                                             np.ones(3, np.float32), f32(3), f32(3),
                                             training=True),
    "batch_norm_eval_mixed": lambda: F.batch_norm(b16(2, 3, 4, 4), np.zeros(3, np.float32),
                                                  np.ones(3, np.float32), f32(3), f32(3)),
    "layer_norm_mixed": lambda: dlpy.layer_norm(b16(3, 4), (4,), f32(4), f32(4)),
    "group_norm_mixed": lambda: dlpy.group_norm(b16(2, 3, 4), 1, f32(3), f32(3)),
    "lstm": lambda: nn.LSTM(4, 3)(f32(5, 2, 4))[0],
    "lstm_h": lambda: nn.LSTM(4, 3)(f32(5, 2, 4))[1][0],
    "gru": lambda: nn.GRU(4, 3)(f32(5, 2, 4))[0],
    "rnn": lambda: nn.RNN(4, 3)(f32(5, 2, 4))[0],
    "lstm_cell": lambda: nn.LSTMCell(4, 3)(f32(2, 4))[0],
    "gru_cell": lambda: nn.GRUCell(4, 3)(f32(2, 4)),
    "rnn_cell": lambda: nn.RNNCell(4, 3)(f32(2, 4)),
}


def test_every_case_of_the_fixture_is_run():
    assert set(OP_CASES) == {k.removeprefix("dtype:") for k in REF.files
                             if k.startswith("dtype:")}


def test_op_output_dtypes_under_autocast_equal_torchs():
    wrong = {}
    with dlpy.autocast("cpu", dtype=dlpy.bfloat16):
        for case, call in OP_CASES.items():
            got = call().dtype.name
            if got != str(REF[f"dtype:{case}"]):
                wrong[case] = (got, str(REF[f"dtype:{case}"]))
    assert wrong == {}


# ----------------------------------------------------------------- bfloat16 numerics
def as_bf16(array) -> np.ndarray:
    return np.asarray(array, dtype=np.float32).astype(BF16)


def test_casts_round_as_torch_bit_for_bit():
    x = dlpy.tensor(REF["cast:in"])
    np.testing.assert_array_equal(x.bfloat16().numpy().astype(np.float32), REF["cast:bf16"])
    np.testing.assert_array_equal(x.to(dlpy.bfloat16).float().numpy(), REF["cast:bf16"])
    np.testing.assert_array_equal(x.half().numpy(), REF["cast:f16"])


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "exp", "tanh", "sigmoid", "relu",
                                  "neg", "sqrt_abs", "maximum", "square"])
def test_element_wise_bfloat16_ops_equal_torchs(name):
    x = dlpy.tensor(as_bf16(REF[f"ew:{name}:x"]))
    y = dlpy.tensor(as_bf16(REF[f"ew:{name}:y"]))
    calls = {"add": lambda: x + y, "sub": lambda: x - y, "mul": lambda: x * y,
             "div": lambda: x / y, "exp": x.exp, "tanh": x.tanh, "sigmoid": x.sigmoid,
             "relu": x.relu, "neg": lambda: -x, "sqrt_abs": lambda: x.abs().sqrt(),
             "maximum": lambda: dlpy.maximum(x, y), "square": lambda: x * x}
    out = calls[name]()
    assert out.dtype == BF16
    expected = REF[f"ew:{name}:out"]
    got = out.numpy().astype(np.float32)
    # float32 arithmetic rounded once: bit-equal but for transcendental ops, where numpy's and
    # torch's float32 exp can differ in the last float32 bits: then at most one bfloat16 ulp
    if name in ("exp", "tanh", "sigmoid"):
        np.testing.assert_allclose(got, expected, rtol=2 ** -7)
        assert (got == expected).mean() > 0.9
    else:
        np.testing.assert_array_equal(got, expected)


def test_bfloat16_linear_equals_torchs():
    layer = nn.Linear(32, 16).bfloat16()
    layer.load_state_dict({"weight": as_bf16(REF["linear:w"]), "bias": as_bf16(REF["linear:b"])})
    assert layer.weight.dtype == BF16
    out = layer(dlpy.tensor(as_bf16(REF["linear:x"])))
    assert out.dtype == BF16
    # float32 products then one rounding, as torch's: equal here but where float32 sums in
    # another order land on the other side of a bfloat16 rounding boundary
    got = out.numpy().astype(np.float32)
    np.testing.assert_allclose(got, REF["linear:out"], rtol=2 ** -7, atol=1e-6)
    assert (got == REF["linear:out"]).mean() >= 0.95


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(2, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        x = F.max_pool2d(dlpy.relu(self.bn(self.conv1(x))), 2)
        x = dlpy.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 3))


def load(model, prefix):
    state = {k.split(":", 2)[2]: REF[k] for k in REF.files if k.startswith(f"{prefix}:state:")}
    model.load_state_dict(state)
    return model


@pytest.mark.parametrize("prefix, make", [("mlp", mlp), ("cnn", SmallCNN)])
def test_model_under_bfloat16_autocast_matches_torch(prefix, make):
    model = load(make(), prefix)
    x, y = dlpy.tensor(REF[f"{prefix}:x"]), dlpy.tensor(REF[f"{prefix}:y"])
    with dlpy.autocast("cpu", dtype=dlpy.bfloat16):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    assert logits.dtype == BF16 and loss.dtype == np.float32
    # the casts, float32 products and roundings are torch's: bit-equal logits and gradients
    # here but for BatchNorm's weight (float32 sums in another order, 2e-7); a BLAS summing in
    # another order may move a value across a bfloat16 rounding boundary: hence bfloat16
    # tolerances and a share of exact values
    got = logits.numpy().astype(np.float32)
    np.testing.assert_allclose(got, REF[f"{prefix}:out"], rtol=2 ** -7, atol=1e-3)
    assert (got == REF[f"{prefix}:out"]).mean() >= 0.9
    np.testing.assert_allclose(loss.item(), REF[f"{prefix}:loss"], rtol=1e-3)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad.dtype == np.float32, name  # the float32 master weights' gradients
        expected = REF[f"{prefix}:grad:{name}"]
        scale = np.abs(expected).max()
        np.testing.assert_allclose(p.grad.numpy(), expected, rtol=0, atol=1e-2 * scale,
                                   err_msg=name)


# ----------------------------------------------------------------- GradScaler against torch
@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf * 0 in the overflow
def test_grad_scaler_replays_torchs_float16_steps_with_an_overflow():
    model = load(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)), "scaler")
    opt = dlpy.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = dlpy.amp.GradScaler("cpu", init_scale=2.0 ** 14, growth_interval=2)
    skipped = []
    for i in range(6):
        x, y = dlpy.tensor(REF[f"scaler:x{i}"]), dlpy.tensor(REF[f"scaler:y{i}"])
        opt.zero_grad()
        with dlpy.autocast("cpu", dtype=dlpy.float16):
            loss = F.mse_loss(model(x), y)
        assert loss.dtype == np.float32
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        before = [p.data.copy() for p in model.parameters()]
        scaler.step(opt)
        skipped.append(all((b == p.data).all() for b, p in zip(before, model.parameters())))
        scaler.update()
        assert scaler.get_scale() == REF[f"scaler:scale{i}"], i
        assert scaler._get_growth_tracker() == REF[f"scaler:tracker{i}"], i
        for name, p in model.named_parameters():
            np.testing.assert_allclose(p.numpy(), REF[f"scaler:param{i}:{name}"], rtol=1e-5,
                                       atol=1e-7, err_msg=f"step {i} {name}")
    assert skipped == [False, False, False, True, False, False]


# ----------------------------------------------------------------- autocast's behaviour
def test_autocast_state_nests_and_is_restored():
    plain_call = Op.__call__
    assert not dlpy.is_autocast_enabled("cpu") and dlpy.get_autocast_dtype("cpu") is dlpy.bfloat16
    with dlpy.autocast("cpu", dtype=dlpy.float16):
        assert dlpy.is_autocast_enabled("cpu") and dlpy.get_autocast_dtype("cpu") is dlpy.float16
        assert dlpy.matmul(f32(2, 3), f32(3, 2)).dtype == np.float16
        with dlpy.autocast("cpu", enabled=False):
            assert not dlpy.is_autocast_enabled("cpu")
            assert dlpy.matmul(f32(2, 3), f32(3, 2)).dtype == np.float32
        with dlpy.autocast("cpu", dtype=dlpy.bfloat16):
            assert dlpy.matmul(f32(2, 3), f32(3, 2)).dtype == BF16
        assert dlpy.get_autocast_dtype("cpu") is dlpy.float16
    assert not dlpy.is_autocast_enabled("cpu") and not dlpy.is_autocast_enabled("cuda")
    assert Op.__call__ is plain_call  # outside autocast the engine's hot path is untouched
    with pytest.raises(ZeroDivisionError), dlpy.amp.autocast("cpu"):
        raise ZeroDivisionError
    assert not dlpy.is_autocast_enabled("cpu") and Op.__call__ is plain_call


def test_autocast_as_decorator_and_torch_cpu_amp_spelling():
    @dlpy.autocast("cpu")
    def forward(x, w):
        return F.linear(x, w)

    assert forward(f32(2, 3), f32(4, 3)).dtype == BF16
    with pytest.warns(FutureWarning, match="torch.cpu.amp.autocast"), dlpy.cpu.amp.autocast():
        assert dlpy.mm(f32(2, 3), f32(3, 1)).dtype == BF16
    assert F.linear(f32(2, 3), f32(4, 3)).dtype == np.float32


def test_autocast_leaves_float64_alone_and_disables_cuda_and_bad_dtypes():
    x64 = dlpy.tensor(np.ones((2, 2)))
    with dlpy.autocast("cpu"):
        assert dlpy.matmul(x64, x64).dtype == np.float64
        assert F.mse_loss(x64, x64).dtype == np.float64
    # as a torch without CUDA: warn, and the block does nothing
    with pytest.warns(UserWarning, match="CUDA is not available"):
        block = dlpy.autocast("cuda")
    with block:
        assert not dlpy.is_autocast_enabled("cpu")
        assert dlpy.matmul(f32(2, 2), f32(2, 2)).dtype == np.float32
    # torch's other autocast device types: the block changes nothing here (as torch's on the
    # CPU); an unknown device type is torch's RuntimeError
    with dlpy.autocast("mps"), dlpy.autocast("cuda:0"):
        assert not dlpy.is_autocast_enabled("cpu")
        assert dlpy.matmul(f32(2, 2), f32(2, 2)).dtype == np.float32
    with pytest.raises(RuntimeError, match="autocast: expected one of cpu, .* string: nonsense"):
        dlpy.autocast("nonsense")
    with pytest.raises(RuntimeError, match="unsupported device_type 'meta'"):
        dlpy.autocast("meta")
    with pytest.raises(RuntimeError, match="device type at start of device string"):
        dlpy.amp.is_autocast_available("nonsense")
    assert dlpy.amp.is_autocast_available("cuda") and not dlpy.amp.is_autocast_available("meta")
    # torch's CPU autocast warns and runs disabled for a dtype other than bfloat16/float16
    with pytest.warns(UserWarning, match="target dtype is not supported"):
        block = dlpy.autocast("cpu", dtype=dlpy.float64)
    with block:
        assert not dlpy.is_autocast_enabled("cpu")
        assert dlpy.get_autocast_dtype("cpu") == dlpy.float64
        assert dlpy.matmul(f32(2, 2), f32(2, 2)).dtype == np.float32
    assert dlpy.get_autocast_dtype("cpu") == dlpy.bfloat16


def test_autocast_is_per_thread():
    seen = []
    inside, done = threading.Event(), threading.Event()

    def other():
        inside.wait()
        seen.append((dlpy.is_autocast_enabled("cpu"), dlpy.matmul(f32(2, 2), f32(2, 2)).dtype))
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    with dlpy.autocast("cpu"):
        inside.set()
        done.wait(10)
        assert dlpy.matmul(f32(2, 2), f32(2, 2)).dtype == BF16
    thread.join()
    assert seen == [(False, np.dtype(np.float32))]


def test_weights_are_cast_once_per_block_and_gradients_reach_them():
    w = dlpy.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    x = f32(5, 3)
    with dlpy.autocast("cpu"):
        a, b = F.linear(x, w), F.linear(x, w)
        assert a.op.inputs[1] is b.op.inputs[1]  # one cached bfloat16 copy of w
    (a.float().sum() + b.float().sum()).backward()
    assert w.grad.dtype == np.float32
    expected = 2 * x.numpy().astype(BF16).astype(np.float32).sum(0)
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(expected, (4, 3)), rtol=2 ** -7)
    with dlpy.autocast("cpu", cache_enabled=False):
        a, b = F.linear(x, w), F.linear(x, w)
        assert a.op.inputs[1] is not b.op.inputs[1]


# ----------------------------------------------------------------- GradScaler's behaviour
def small_step(scaler, opt, model, scale_input=1.0):
    opt.zero_grad()
    loss = F.mse_loss(model(f32(4, 3) * scale_input), f32(4, 2))
    scaler.scale(loss).backward()
    return scaler.step(opt)


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # inf - inf in the overflow
def test_grad_scaler_scale_growth_backoff_and_state_dict():
    model = nn.Linear(3, 2)
    opt = dlpy.optim.SGD(model.parameters(), lr=0.1)
    scaler = dlpy.amp.GradScaler(init_scale=4.0, growth_interval=2)
    assert scaler.get_scale() == 4.0 and scaler.is_enabled()
    assert [t.item() for t in scaler.scale([dlpy.tensor(1.5), dlpy.tensor(2.0)])] == [6.0, 8.0]
    for expected in (4.0, 8.0, 8.0, 16.0):
        small_step(scaler, opt, model)
        scaler.update()
        assert scaler.get_scale() == expected
    model.weight.data[0, 0] = np.inf  # an overflow: the step is skipped, the scale halved
    before = model.bias.numpy().copy()
    assert small_step(scaler, opt, model) is None
    scaler.update()
    assert scaler.get_scale() == 8.0 and (model.bias.numpy() == before).all()
    state = scaler.state_dict()
    assert state == {"scale": 8.0, "growth_factor": 2.0, "backoff_factor": 0.5,
                     "growth_interval": 2, "_growth_tracker": 0}
    other = dlpy.amp.GradScaler()
    other.load_state_dict(state)
    assert other.state_dict() == state
    scaler.update(new_scale=3.0)
    assert scaler.get_scale() == 3.0


def test_grad_scaler_unscale_then_clip_and_its_misuse_errors():
    model = nn.Linear(3, 2)
    opt = dlpy.optim.SGD(model.parameters(), lr=0.1)
    scaler = dlpy.amp.GradScaler(init_scale=1024.0)
    with pytest.raises(AssertionError, match="call scaler.scale"):  # torch's class
        scaler.step(opt)
    loss = F.mse_loss(model(f32(4, 3)), f32(4, 2))
    scaler.scale(loss).backward()
    scaled = model.weight.grad.numpy().copy()
    scaler.unscale_(opt)
    np.testing.assert_allclose(model.weight.grad.numpy(), scaled / 1024, rtol=1e-6)
    nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
    with pytest.raises(RuntimeError, match="already called"):
        scaler.unscale_(opt)
    scaler.step(opt)
    with pytest.raises(RuntimeError, match="already called since the last update"):
        scaler.step(opt)
    scaler.update()
    with pytest.raises(AssertionError, match="growth_factor must be > 1.0"):
        dlpy.amp.GradScaler(growth_factor=1.0)
    with pytest.raises(RuntimeError, match="CPU only"):
        dlpy.amp.GradScaler("mps")
    with pytest.warns(UserWarning, match="CUDA is not available"):  # as torch's without CUDA
        assert not dlpy.amp.GradScaler("cuda").is_enabled()


def test_disabled_grad_scaler_passes_through():
    model = nn.Linear(3, 2)
    opt = dlpy.optim.SGD(model.parameters(), lr=0.1)
    scaler = dlpy.amp.GradScaler(enabled=False)
    loss = F.mse_loss(model(f32(4, 3)), f32(4, 2))
    assert scaler.scale(loss) is loss and scaler.get_scale() == 1.0
    loss.backward()
    before = model.weight.numpy().copy()
    scaler.step(opt)
    scaler.update()
    assert not (model.weight.numpy() == before).all() and scaler.state_dict() == {}


# ----------------------------------------------------------------- learning
def train(mode: str, steps: int = 60) -> float:
    """A 2-16-3 MLP on three overlapping Gaussian blobs (the best accuracy is ~0.87, chance
    0.33): accuracy after ``steps`` Adam steps."""
    data = np.random.default_rng(5)
    centers = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=np.float32)
    y = data.integers(0, 3, 300)
    x = (centers[y] + data.standard_normal((300, 2)) * 1.2).astype(np.float32)
    dlpy.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    opt = dlpy.optim.Adam(model.parameters(), lr=0.02)
    dtype = {"bf16": dlpy.bfloat16, "fp16": dlpy.float16}.get(mode)
    scaler = dlpy.amp.GradScaler(init_scale=2.0 ** 10, enabled=dtype is not None)
    xt, yt = dlpy.tensor(x), dlpy.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        with dlpy.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = F.cross_entropy(model(xt), yt)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    with dlpy.no_grad():
        return float((model(xt).argmax(-1).numpy() == y).mean())


def test_training_under_autocast_and_grad_scaler_reaches_float32s_accuracy():
    accuracy = {mode: train(mode) for mode in ("fp32", "bf16", "fp16")}
    assert accuracy["fp32"] > 0.8, accuracy
    assert abs(accuracy["bf16"] - accuracy["fp32"]) <= 0.03, accuracy
    assert abs(accuracy["fp16"] - accuracy["fp32"]) <= 0.03, accuracy


def test_custom_fwd_casts_a_functions_inputs_and_custom_bwd_restores_the_state():
    seen = {}

    class Double(dlpy.autograd.Function):
        @staticmethod
        @dlpy.amp.custom_fwd(device_type="cpu", cast_inputs=dlpy.float32)
        def forward(ctx, x):
            seen["forward"] = (x.dtype, dlpy.is_autocast_enabled("cpu"))
            return x * 2

        @staticmethod
        @dlpy.amp.custom_bwd(device_type="cpu")
        def backward(ctx, grad_output):
            seen["backward"] = dlpy.is_autocast_enabled("cpu")
            return grad_output * 2

    x = b16(3).requires_grad_()
    with dlpy.autocast("cpu"):
        y = Double.apply(x)
    assert y.dtype == np.float32
    y.sum().backward()
    # torch's custom_fwd records _fwd_used_autocast=False with cast_inputs: backward runs with
    # autocast off as forward did (torch/amp/autocast_mode.py)
    assert seen == {"forward": (np.dtype(np.float32), False), "backward": False}
    assert x.grad.dtype == BF16 and x.grad.float().tolist() == [2.0, 2.0, 2.0]


def test_a_disabled_block_does_not_import_ml_dtypes_and_still_reports_bfloat16():
    """``autocast("cpu", enabled=False)`` (x-transformers wraps its rotary code in it) leaves the
    unset default dtype unresolved: ml_dtypes' slow import waits until the dtype is read."""
    import os
    import subprocess
    import sys

    code = ("import sys, dlpy\n"
            "with dlpy.autocast('cpu', enabled=False):\n"
            "    inside = dlpy.is_autocast_enabled('cpu')\n"
            "@dlpy.autocast('cpu', enabled=False)\n"
            "def f():\n"
            "    return 1\n"
            "f()\n"
            "print(inside, 'ml_dtypes' in sys.modules)\n")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")})
    assert ran.stdout.split() == ["False", "False"], ran.stderr
    block = dlpy.autocast("cpu", enabled=False)
    assert block.fast_dtype == BF16
    with dlpy.autocast("cpu", enabled=False):
        assert dlpy.get_autocast_dtype("cpu") == BF16 and not dlpy.is_autocast_enabled("cpu")
    # a dtype set before the block is made is the one it reports, and restored after it
    dlpy.set_autocast_dtype("cpu", dlpy.float16)
    try:
        with dlpy.autocast("cpu", enabled=False) as block:
            assert dlpy.get_autocast_dtype("cpu") == np.float16
        assert block.fast_dtype == np.float16 and dlpy.get_autocast_dtype("cpu") == np.float16
    finally:
        dlpy.set_autocast_dtype("cpu", dlpy.bfloat16)
