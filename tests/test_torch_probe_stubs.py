"""Names libraries probe on torch as they import (transformers): torch.cuda's graph classes
(no device: they raise), torchvision.io (no codecs: it raises), torch.utils._pytree's private
node functions, torch._dynamo's TransformGetItemToIndex, and dlpy.compat compiling a source with
nothing to rewrite directly."""

import collections

import numpy as np
import pytest

import dlpy
from dlpy import compat, cuda
from dlpy._dynamo._trace_wrapped_higher_order_op import TransformGetItemToIndex
from dlpy.utils import _pytree as pytree
from dlpy.vision import io as vision_io


def test_cuda_graph_names_raise_without_a_device():
    for make in (cuda.CUDAGraph, lambda: cuda.graph(None), lambda: cuda.StreamContext(None),
                 cuda.default_stream, cuda.is_current_stream_capturing):
        with pytest.raises(RuntimeError):
            make()


def test_vision_io_imports_and_refuses_to_decode():
    assert vision_io.ImageReadMode.RGB.value == 3
    with pytest.raises(NotImplementedError):
        vision_io.read_video("clip.mp4")


def test_pytree_private_dict_functions_key_a_registered_node():
    class Output(collections.OrderedDict):
        pass

    pytree.register_pytree_node(Output, pytree._dict_flatten,
                                lambda values, keys: Output(zip(keys, values)),
                                flatten_with_keys_fn=pytree._dict_flatten_with_keys)
    tree = Output(a=1, b=[2, 3])
    leaves, spec = pytree.tree_flatten(tree)
    assert leaves == [1, 2, 3] and pytree.tree_unflatten(leaves, spec) == tree
    paths = [pytree.keystr(p) for p, _ in pytree.tree_flatten_with_path(tree)[0]]
    assert paths == ["['a']", "['b'][0]", "['b'][1]"]
    assert pytree._dict_unflatten([1, 2], ["x", "y"]) == {"x": 1, "y": 2}
    assert pytree._tuple_unflatten([1], None) == (1,) and pytree._list_unflatten([1], None) == [1]


def test_transform_getitem_to_index_gathers_the_same_values():
    x = dlpy.arange(12.0).reshape(3, 4)
    with TransformGetItemToIndex():
        a = x[1, 2]
        b = x[dlpy.tensor(2)]
    assert a.shape == () and a.item() == 6.0
    assert np.array_equal(b.numpy(), [8.0, 9.0, 10.0, 11.0])


def test_program_code_compiles_a_source_without_targets_directly():
    plain = b"import torch\ny = torch.zeros(2).sum()\nmetadata = 'x'\n"
    assert compat.program_code(plain, "m.py").co_code == compile(plain, "m.py", "exec").co_code
    for source in (b"y = x.data\n", b"y = (x.  # c\n     data)\n", b"y = x.\\\n    data\n",
                   b"t = (torch.Tensor)(2)\n", b"f = d.is_floating_point\n"):
        assert any(pattern.search(source) for pattern in compat._MAY_REWRITE)
        assert "__dlpy_" in " ".join(compat.program_code(source, "m.py").co_names)
