"""dlpy.fx used as e3nn and opt_einsum_fx use torch.fx: Proxies made on a bare Graph (no trace
running) record dlpy's functions, Tensor methods and ``dlpy._assert`` through
``__torch_function__``; a GraphModule pickles and copies."""

import copy
import pickle

import numpy as np
import pytest

import dlpy
from dlpy import fx, nn, overrides


@pytest.fixture(scope="module", autouse=True)
def plain_callables_after():
    """A bare-graph Proxy turns dispatch on; the rest of the suite runs on the plain path."""
    yield
    overrides._uninstall()


def _bare_graph_module():
    graph = fx.Graph()
    tracer = fx.proxy.GraphAppendingTracer(graph)
    x = fx.Proxy(graph.placeholder("x"), tracer=tracer)
    y = fx.Proxy(graph.placeholder("y"), tracer=tracer)
    dlpy._assert(x.shape[-1] == 3, "x: expected 3 features")
    shape = dlpy.broadcast_tensors(x[..., :1], y[..., :1])[0].shape[:-1]
    out = dlpy.einsum("zi,zj->zij", x.reshape(-1, 3), y.reshape(-1, 2))
    out = dlpy.cat([out.reshape(shape + (6,)), x], dim=-1)
    graph.output(out.node)
    return fx.GraphModule({}, graph), graph


def test_bare_graph_proxies_record_functions_methods_and_asserts():
    gm, graph = _bare_graph_module()
    calls = [(n.op, n.target) for n in graph.nodes if n.op in ("call_function", "call_method")]
    assert ("call_function", dlpy.einsum) in calls and ("call_function", dlpy.cat) in calls
    assert ("call_method", "reshape") in calls
    assert any(target is dlpy._assert for _, target in calls)
    x = dlpy.tensor(np.arange(6.0).reshape(2, 3))
    y = dlpy.tensor([[1.0, -1.0], [0.5, 2.0]])
    want = np.concatenate([np.einsum("zi,zj->zij", x.numpy(), y.numpy()).reshape(2, 6),
                           x.numpy()], axis=-1)
    np.testing.assert_allclose(gm(x, y).numpy(), want)
    with pytest.raises(AssertionError, match="expected 3 features"):
        gm(dlpy.ones(2, 4), y)


def test_assert_keeps_plain_conditions():
    dlpy._assert(True, "never shown")
    with pytest.raises(AssertionError, match="height 8 != 12"):
        dlpy._assert(8 == 12, "height 8 != 12")


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2, rng=np.random.default_rng(0))

    def forward(self, x):
        return dlpy.relu(self.linear(x)) + 1


@pytest.mark.parametrize("kind", ["traced", "bare"])
def test_graph_module_pickles_and_copies(kind):
    if kind == "traced":
        gm = fx.symbolic_trace(_Net())
        args = (dlpy.tensor([[1.0, -2.0, 0.5]]),)
    else:
        gm = _bare_graph_module()[0]
        args = (dlpy.ones(2, 3), dlpy.ones(2, 2))
    for copied in (pickle.loads(pickle.dumps(gm)), copy.copy(gm)):
        assert type(copied).__name__ == "GraphModule" and type(copied) is not type(gm)
        assert copied.code == gm.code
        np.testing.assert_allclose(copied(*args).numpy(), gm(*args).numpy())
    assert [n.name for n in pickle.loads(pickle.dumps(gm)).graph.nodes] == \
        [n.name for n in gm.graph.nodes]


def test_a_long_graph_pickles_without_recursion():
    graph = fx.Graph()
    x = fx.Proxy(graph.placeholder("x"))
    for _ in range(3000):
        x = x + 1.0
    graph.output(x.node)
    gm = pickle.loads(pickle.dumps(fx.GraphModule({}, graph)))
    assert len(gm.graph.nodes) == 3002
    np.testing.assert_allclose(gm(dlpy.tensor([0.5])).numpy(), [3000.5])


def test_a_copied_script_module_stays_one():
    scripted = dlpy.jit.script(_Net())
    copied = copy.copy(scripted)
    assert isinstance(copied, dlpy.jit.RecursiveScriptModule) and copied.code == scripted.code
    x = dlpy.tensor([[0.5, 1.0, -1.0]])
    np.testing.assert_allclose(copied(x).numpy(), scripted(x).numpy())


def test_einsum_operands_in_one_list_reach_handlers_spread_out():
    # opt_einsum's torch backend calls torch.einsum(eq, operands): torch.functional.einsum
    # hands its handlers einsum(eq, *operands), so graph passes read the operands as args
    graph = fx.Graph()
    tracer = fx.proxy.GraphAppendingTracer(graph)
    x, y = (fx.Proxy(graph.placeholder(n), tracer=tracer) for n in ("x", "y"))
    for operands in ([x, y], (x, y)):
        node = dlpy.einsum("ij,jk->ik", operands).node
        assert node.target is dlpy.einsum and node.args == ("ij,jk->ik", x.node, y.node)


def test_compat_turns_dispatch_on_before_a_source_making_bare_graph_proxies():
    # (opt_einsum_fx: its package keys {torch.einsum} at import, to read the targets its
    # bare-graph Proxies record; the functions keep the identities they have once it is on)
    from dlpy import compat

    overrides._uninstall()
    compat.program_code(b"import torch\nx = torch.zeros(2)\n", "m.py")
    assert not overrides._installed
    compat.program_code(b"from torch import fx\nT = fx.proxy.GraphAppendingTracer\n", "m.py")
    assert overrides._installed
