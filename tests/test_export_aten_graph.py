"""dlpy.export._aten_graph: exported graphs call torch's aten overloads (export level and, after
run_decompositions, the decomposed level), nodes named after their ops with meta["val"]; a call
with no rule stays dlpy's; the graph module runs and agrees with the program's module."""

import numpy as np

import dlpy
import dlpy.functional as F
from dlpy import Tensor, nn
from dlpy.aten import aten
from dlpy.export import export


def _calls(ep):
    return [(n.name, str(n.target)) for n in ep.graph.nodes if n.op == "call_function"]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4, dtype=np.float64)
        self.bn = nn.BatchNorm1d(4, dtype=np.float64)

    def forward(self, x):
        h = F.relu(self.bn(self.fc(x))) + 1
        return dlpy.erf(h).sum(1), h.T


def test_export_level_targets_names_and_values():
    x = Tensor(np.arange(6.0).reshape(2, 3) / 4)
    model = Net()
    ep = export(model, (x,))
    assert _calls(ep) == [
        ("linear", "aten.linear.default"), ("add_", "aten.add_.Tensor"),
        ("batch_norm", "aten.batch_norm.default"), ("relu", "aten.relu.default"),
        ("add", "aten.add.Tensor"), ("erf", _calls(ep)[5][1]),
        ("sum_1", "aten.sum.dim_IntList"), ("numpy_t", "aten.numpy_T.default")]
    assert "aten" not in _calls(ep)[5][1]  # erf has no rule: dlpy's function, kept
    node = next(n for n in ep.graph.nodes if n.name == "batch_norm")
    assert node.target is aten.batch_norm.default and node.meta["val"].shape == (2, 4)
    # exporting ran nothing on the module's state
    assert int(model.bn.num_batches_tracked.item()) == 0
    state = [p.detach() for p in model.parameters()] + [b.clone() for b in model.buffers()]
    got = ep.graph_module(*state, x)
    want = ep.module()(x)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_decomposed_level_is_functional():
    x = Tensor(np.arange(6.0).reshape(2, 3) / 4)
    model = Net()
    ep = export(model, (x,)).run_decompositions()
    names = [name for name, _ in _calls(ep)]
    assert names[:6] == ["permute", "addmm", "add", "_native_batch_norm_legit_functional",
                         "getitem", "getitem_3"]
    signature = ep.graph_signature
    assert list(signature.buffers_to_mutate) == ["getitem_3", "getitem_4", "add"]
    state = [p.detach() for p in model.parameters()] + [b.clone() for b in model.buffers()]
    mean, var, count, *outputs = ep.graph_module(*state, x)
    assert int(count.item()) == 1
    eager = model(x)  # the module's own update, for comparison
    np.testing.assert_allclose(mean.data, model.bn.running_mean.data, rtol=1e-12)
    np.testing.assert_allclose(var.data, model.bn.running_var.data, rtol=1e-12)
    for a, b in zip(outputs, eager):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_a_rule_that_does_not_apply_keeps_dlpys_call():
    class M(nn.Module):
        def forward(self, x):
            return F.relu(x, inplace=True) + x[..., 0:1]

    ep = export(M(), (Tensor(np.ones((2, 3))),))
    targets = [str(t) for _, t in _calls(ep)]
    assert not targets[0].startswith("aten.")  # relu(inplace=True)
    assert targets[-1] == "aten.add.Tensor"


def test_default_arguments_are_left_out():
    class M(nn.Module):
        def forward(self, x):
            return F.max_pool2d(x, 2), F.conv2d(x, x[:1], stride=1, padding=(0, 0))

    ep = export(M(), (Tensor(np.ones((1, 1, 4, 4))),))
    args = {n.name: n.args for n in ep.graph.nodes if n.op == "call_function"}
    assert args["max_pool2d"][1:] == ([2, 2],)
    assert len(args["conv2d"]) == 2
