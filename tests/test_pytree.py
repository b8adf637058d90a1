"""dlpy.utils._pytree against torch 2.13's torch.utils._pytree (tests/fixtures/pytree.json, made
by make_pytree_fixtures.py): leaves, TreeSpec reprs and counts, maps, error messages."""

import json
from pathlib import Path

import pytest
from pytree_trees import clean, trees

import dlpy
from dlpy.utils import _pytree as pytree

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "pytree.json").read_text())
def error(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    return f"ValueError: {clean(str(info.value))}"


@pytest.mark.parametrize("name", list(trees()))
def test_flatten_equals_torch(name):
    tree, ref = trees()[name], FIXTURE[name]
    leaves, spec = pytree.tree_flatten(tree)
    assert clean(repr(leaves)) == ref["leaves"]
    assert clean(repr(spec)) == ref["spec"]
    assert (spec.num_leaves, spec.num_nodes, spec.num_children) == \
        (ref["num_leaves"], ref["num_nodes"], ref["num_children"])
    assert clean(pytree.treespec_pprint(spec)) == ref["pprint"]
    assert clean(repr(pytree.tree_map_only(int, lambda v: 2 * v, tree))) == ref["doubled"]
    rebuilt = pytree.tree_unflatten(leaves, spec)
    assert clean(repr(rebuilt)) == ref["roundtrip"] and type(rebuilt) is type(tree)
    assert pytree.tree_structure(rebuilt) == spec and pytree.tree_leaves(tree) == leaves


def test_maps_and_errors_equal_torch():
    spec = pytree.tree_structure(trees()["nested"])
    errors = FIXTURE["errors"]
    assert error(lambda: pytree.tree_unflatten([1, 2], spec)) == errors["unflatten_count"]
    assert error(lambda: pytree.tree_map(lambda a, b: a, [1, 2], [1, 2, 3])) == \
        errors["map_arity"]
    assert error(lambda: pytree.tree_map(lambda a, b: a, [1, 2], (1, 2))) == errors["map_type"]
    assert error(lambda: pytree.tree_map(lambda a, b: a, {"a": 1}, {"b": 1})) == \
        errors["map_keys"]
    assert repr(pytree.tree_map(lambda a, b: a + b, {"a": [1, 2], "b": 3},
                                {"b": 30, "a": [10, 20]})) == FIXTURE["map_two"]
    assert repr(pytree.tree_leaves([1, (2, 3), [4]], is_leaf=lambda v: isinstance(v, tuple))) \
        == FIXTURE["is_leaf"]


def test_leaf_spec_register_and_tensors():
    assert pytree.tree_structure(5) == pytree.LeafSpec() and repr(pytree.LeafSpec()) == "*"
    assert pytree.tree_structure([1]) == pytree.tree_structure([2])
    assert pytree.tree_structure([1]) != pytree.tree_structure((1,))
    assert isinstance(pytree.tree_structure((1,)), pytree.TreeSpec)

    class Pair:
        def __init__(self, first, second):
            self.first, self.second = first, second

    pytree.register_pytree_node(Pair, lambda p: ([p.first, p.second], "pair"),
                                lambda values, context: Pair(*values))
    try:
        leaves, spec = pytree.tree_flatten([Pair(1, (2, 3))])
        assert leaves == [1, 2, 3] and spec.children_specs[0].context == "pair"
        doubled = pytree.tree_map(lambda v: 2 * v, [Pair(1, (2, 3))])[0]
        assert (doubled.first, doubled.second) == (2, (4, 6))
        with pytest.raises(ValueError, match="already registered as pytree node"):
            pytree.register_pytree_node(Pair, lambda p: ([], None), lambda v, c: Pair(0, 0))
    finally:
        del pytree.SUPPORTED_NODES[Pair]
    tensors = {"w": dlpy.ones(2), "b": [dlpy.zeros(3), "name"]}
    scaled = pytree.tree_map_only(dlpy.Tensor, lambda t: t * 2, tensors)
    assert scaled["w"].data.tolist() == [2.0, 2.0] and scaled["b"][1] == "name"
    seen = []
    assert pytree.tree_map_(seen.append, tensors) is tensors and len(seen) == 3
    assert pytree.tree_all(lambda v: v is not None, tensors)
    assert pytree.tree_any(lambda v: isinstance(v, str), tensors)


def test_size_is_a_node_that_unflattens_to_a_tuple():
    # torch registers torch.Size as it starts: its ints are leaves, a plain tuple comes back
    leaves, spec = pytree.tree_flatten([dlpy.Size([2, 3]), (dlpy.ones(1),)])
    assert leaves[:2] == [2, 3] and len(leaves) == 3
    back = pytree.tree_unflatten([4, 5, leaves[2]], spec)
    assert back[0] == (4, 5) and type(back[0]) is tuple
