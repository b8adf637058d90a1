"""dlpy.utils.flop_counter.FlopCounterMode against torch 2.13's (tests/fixtures/flop_counter.json,
made by make_flop_counter_fixtures.py), and dlpy.utils.module_tracker.ModuleTracker."""

import json
from pathlib import Path

import numpy as np
import pytest
from flop_models import models

import dlpy
import dlpy.functional as F
from dlpy import nn
from dlpy.utils.flop_counter import FlopCounterMode, aten
from dlpy.utils.module_tracker import ModuleTracker

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "flop_counter.json").read_text())


MLP, cnn, transformer = models(nn)


def count(model, shape, backward, input_grad=False):
    x = dlpy.randn(*shape, requires_grad=input_grad and backward)
    with FlopCounterMode(display=False) as counter:
        y = model(x)
        if backward:
            y.sum().backward()
    return counter


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward_backward"])
@pytest.mark.parametrize("name,make,shape", [("mlp", MLP, (5, 8)), ("cnn", cnn, (2, 3, 9, 9))])
def test_counts_and_tables_equal_torch(name, make, shape, backward):
    ref = FIXTURE[f"{name}_{'forward_backward' if backward else 'forward'}"]
    counter = count(make(), shape, backward)
    assert counter.get_total_flops() == ref["total"]
    assert counter.get_flop_counts() == ref["counts"]
    assert counter.get_table() == ref["table"]
    assert counter.get_table(1) == ref["table_depth1"]
    assert counter.get_table(99) == ref["table_all"]


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "forward_backward"])
def test_transformer_layer_module_totals_equal_torch(backward):
    ref = FIXTURE[f"transformer_{'forward_backward' if backward else 'forward'}"]
    counts = count(transformer(), (2, 5, 16), backward, input_grad=True).get_flop_counts()
    assert sum(counts["Global"].values()) == ref["total"]
    for module, ops in ref["counts"].items():
        if ".dropout" in module:
            # torch's ModuleTracker loses track of a module that returns its input (eval-mode
            # dropout) and charges it all the backward that follows; dlpy's has no such rows
            assert module not in counts
            continue
        assert sum(counts[module].values()) == sum(ops.values()), module
    # attention is counted under the op torch runs on the CPU, with torch's sdpa formulas
    sdpa = "aten._scaled_dot_product_flash_attention_for_cpu"
    assert counts["Global"][sdpa] == ref["counts"]["Global"][sdpa]
    if backward:
        assert counts["Global"][sdpa + "_backward"] == ref["counts"]["Global"][sdpa + "_backward"]
    # MultiheadAttention applies out_proj's weight by F.linear, as torch's: no row of its own
    assert "TransformerEncoderLayer.self_attn.out_proj" not in counts


def test_functions_equal_torch():
    rng = np.random.default_rng(0)

    def tensor(*shape, grad=True):
        return dlpy.tensor(rng.standard_normal(shape), requires_grad=grad)

    q, k, v = tensor(2, 2, 5, 8), tensor(2, 2, 5, 8), tensor(2, 2, 5, 8)
    x1, w1, wt = tensor(2, 4, 11), tensor(6, 2, 3), tensor(4, 3, 2)
    calls = {
        "bmm": lambda: (q @ k.transpose(-1, -2)).sum().backward(),
        "mm_mv": lambda: (tensor(6, 4, grad=False) @ tensor(4, 5, grad=False),
                          tensor(3, 4, grad=False) @ tensor(4, grad=False)),
        "sdpa": lambda: F.scaled_dot_product_attention(q, k, v).sum().backward(),
        "conv1d": lambda: F.conv1d(x1, w1, stride=2, groups=2).sum().backward(),
        "conv_transpose1d": lambda: F.conv_transpose1d(x1, wt, stride=2,
                                                       groups=2).sum().backward(),
    }
    for name, call in calls.items():
        with FlopCounterMode(display=False) as counter:
            call()
        ref = FIXTURE[f"function_{name}"]
        assert counter.get_flop_counts() == ref["counts"], name
        assert counter.get_total_flops() == ref["total"], name


def test_display_custom_mapping_and_names(capsys):
    model = MLP()
    with FlopCounterMode(depth=1, custom_mapping={aten.addmm: lambda *shapes, out_shape: 1}):
        model(dlpy.randn(5, 8))
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split() == ["Module", "FLOP", "%", "Total"]
    assert "MLP.layers" not in printed  # depth 1
    # a dlpy Op class counted by a formula of its input shapes
    from dlpy.ops.activation import ReLU

    with FlopCounterMode(display=False, custom_mapping={
            aten.addmm: lambda *shapes, out_shape: 1,
            ReLU: lambda x, out_shape: int(np.prod(x))}) as counter:
        model(dlpy.randn(5, 8))
    counts = counter.get_flop_counts()
    assert counts["MLP.layers"] == {"aten.addmm": 2, "ReLU": 2 * 5 * 16}
    assert counts["MLP.head"] == {"aten.mm": 2 * 5 * 16 * 4}
    assert aten.mm == "aten.mm"
    with FlopCounterMode(display=False) as counter:
        pass
    assert counter.get_total_flops() == 0 and counter.get_table().splitlines()[-1].split() == \
        ["Global", "0", "0%"]
    with pytest.raises(TypeError, match=r"custom_mapping\['aten.mm'\] must be a callable"):
        FlopCounterMode(custom_mapping={"aten.mm": 3})
    with pytest.warns(UserWarning, match="mods argument is not needed"):
        FlopCounterMode(model)


def test_nothing_swapped_outside_and_module_tracker():
    from dlpy.nn.module import Module
    from dlpy.tensor import Op

    call, op_call = Module.__call__, Op.__call__
    seen = []

    class Probe(nn.Module):
        def forward(self, x):
            seen.append((set(tracker.parents), tracker.is_bw))
            return x * 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.probe = Probe()
            self.linear = nn.Linear(3, 2)

        def forward(self, x):
            return self.linear(self.probe(x))

    backward_parents = []

    class Square(dlpy.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            backward_parents.append((set(tracker.parents), tracker.is_bw))
            return 2 * ctx.saved_tensors[0] * grad

    net = Net()
    with ModuleTracker() as tracker:
        out = net(dlpy.randn(4, 3, requires_grad=True))
        Square.apply(out).sum().backward()
    assert seen == [({"Global", "Net", "Net.probe"}, False)]
    assert backward_parents and backward_parents[0][1] is True
    assert tracker.parents == {"Global"}
    assert Module.__call__ is call and Op.__call__ is op_call


RECURRENT = {  # as make_flop_counter_fixtures.RECURRENT
    "gru": ("GRU", dict(input_size=4, hidden_size=6), (7, 3, 4), None),
    "gru_h0": ("GRU", dict(input_size=4, hidden_size=6), (7, 3, 4), (1, 3, 6)),
    "rnn_relu_nobias": ("RNN", dict(input_size=4, hidden_size=6, bias=False,
                                    nonlinearity="relu"), (7, 3, 4), None),
    "gru_2layer_bidirectional": ("GRU", dict(input_size=4, hidden_size=5, num_layers=2,
                                             bidirectional=True), (7, 3, 4), None),
    "lstm_proj_2layer": ("LSTM", dict(input_size=4, hidden_size=6, proj_size=3, num_layers=2),
                         (7, 3, 4), None),
    "lstm_cell_h0": ("LSTMCell", dict(input_size=4, hidden_size=6), (3, 4), (3, 6)),
    "gru_cell": ("GRUCell", dict(input_size=4, hidden_size=6), (3, 4), None),
    "rnn_cell_h0": ("RNNCell", dict(input_size=4, hidden_size=6), (3, 4), (3, 6)),
}


@pytest.mark.parametrize("name", list(RECURRENT))
def test_recurrent_layers_equal_torch(name):
    layer, kwargs, shape, state = RECURRENT[name]
    model = getattr(nn, layer)(**kwargs)
    for backward in (False, True):
        args = [dlpy.randn(*shape)]
        if state is not None:
            h0 = dlpy.randn(*state, requires_grad=True)
            args.append((h0, dlpy.randn(*state)) if layer == "LSTMCell" else h0)
        with FlopCounterMode(display=False) as counter:
            out = model(*args)
            if backward:
                (out[0] if isinstance(out, tuple) else out).sum().backward()
        ref = FIXTURE[f"rnn_{name}_{'forward_backward' if backward else 'forward'}"]
        assert counter.get_flop_counts() == ref["counts"]
        assert counter.get_total_flops() == ref["total"]


def test_plain_lstm_counted_as_its_unfused_path():
    # torch's CPU LSTM runs oneDNN's fused kernel and counts nothing; dlpy counts the products
    # torch's unfused path (LSTMCell, an LSTM with projections) runs: x W_ih^T, then h W_hh^T
    # per step
    with FlopCounterMode(display=False) as counter:
        nn.LSTM(4, 6)(dlpy.randn(7, 3, 4))
    assert counter.get_flop_counts()["LSTM"] == {"aten.addmm": 2 * 21 * 4 * 24
                                                 + 7 * 2 * 3 * 6 * 24}
