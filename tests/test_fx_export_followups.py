"""Round trips and behaviour the torch-recorded area fx_export_followups does not show:
treespec JSON round trips (custom and Enum contexts), unflatten sharing the program's state,
BUFFER_MUTATION outputs of a decomposed program being the updated buffers."""

import collections
import enum

import numpy as np

import dlpy
from dlpy import nn
from dlpy.export import export, unflatten
from dlpy.export._program import OutputKind
from dlpy.utils import _pytree as pytree


class Color(enum.Enum):
    RED = 1


def test_treespec_round_trips():
    for tree in ([1, {"a": 2}, (3,)], collections.OrderedDict(b=1, a=2),
                 collections.defaultdict(list, {"k": 1}), collections.deque([1], maxlen=3)):
        spec = pytree.tree_structure(tree)
        assert pytree.treespec_loads(pytree.treespec_dumps(spec)) == spec


def test_treespec_enum_context():
    class Tagged:
        def __init__(self, v):
            self.v = v

    pytree.register_pytree_node(Tagged, lambda t: ([t.v], Color.RED),
                                lambda vs, c: Tagged(vs[0]),
                                serialized_type_name="test.Tagged")
    spec = pytree.tree_structure(Tagged(1))
    assert pytree.treespec_loads(pytree.treespec_dumps(spec)).context is Color.RED


def test_unflatten_shares_state():
    m = nn.Sequential(nn.Linear(3, 2))
    u = unflatten(export(m, (dlpy.ones(2, 3),)))
    assert u.get_submodule("0").weight is m[0].weight
    np.testing.assert_allclose(u(dlpy.ones(2, 3)).data, m(dlpy.ones(2, 3)).data)


def test_buffer_mutation_outputs_are_updated_buffers():
    m = nn.BatchNorm1d(3)
    ep = export(m, (dlpy.ones(2, 3),)).run_decompositions()
    specs = ep.graph_signature.output_specs
    assert [s.kind for s in specs[:3]] == [OutputKind.BUFFER_MUTATION] * 3
    state = [getattr(m, n) for n in ("weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked")]
    x = dlpy.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    *buffers, out = ep.graph_module(*state, x)
    np.testing.assert_allclose(buffers[0].data, [0.15, 0.25, 0.35], rtol=1e-6)
    assert int(buffers[2].item()) == 1 and out.shape == (2, 3)
