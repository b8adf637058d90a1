"""dlpy.nested's strided layout (dlpy/nested/strided.py): round trips through
to_padded_tensor / unbind, gradients back to the components, and what torch refuses."""

import numpy as np
import pytest

import dlpy
from dlpy.nested import StridedNestedTensor


def _parts():
    return [np.arange(6.0).reshape(2, 3), np.arange(20.0).reshape(4, 5) / 7]


def test_default_layout_is_strided_and_round_trips():
    nt = dlpy.nested.nested_tensor(_parts())
    assert isinstance(nt, StridedNestedTensor) and nt.layout is dlpy.strided
    assert nt.dim() == 3 and nt.size(0) == 2 and nt.numel() == 26
    padded = nt.to_padded_tensor(-1.0)
    assert padded.shape == (2, 4, 5)
    for part, row, back in zip(_parts(), padded.data, nt.unbind()):
        np.testing.assert_array_equal(row[:part.shape[0], :part.shape[1]], part)
        np.testing.assert_array_equal(back.data, part)
    again = dlpy.nested.nested_tensor([padded[0][:2, :3], padded[1]])
    np.testing.assert_array_equal(again.to_padded_tensor(-1.0).data, padded.data)
    with pytest.raises(RuntimeError, match="irregular"):
        nt.size(1)


def test_gradients_reach_the_components():
    a, b = (dlpy.tensor(p, requires_grad=True) for p in _parts())
    nt = dlpy.nested.as_nested_tensor([a, b])
    assert not nt.is_leaf and nt.requires_grad
    (nt @ nt.transpose(1, 2)).softmax(-1).unbind()[1].sum().backward()
    assert a.grad is not None and np.all(a.grad.data == 0)  # zeros, as torch's, not None
    assert b.grad.shape == (4, 5)
    leaf = dlpy.nested.nested_tensor(_parts(), requires_grad=True)
    (leaf * 3).to_padded_tensor(0.0).sum().backward()
    np.testing.assert_array_equal(leaf.grad.unbind()[1].data, np.full((4, 5), 3.0))


def test_refusals_and_views():
    nt = dlpy.nested.nested_tensor(_parts())
    with pytest.raises(NotImplementedError):
        dlpy.exp(nt)
    with pytest.raises(RuntimeError, match="keepdim=True"):
        nt.sum(-1)
    t = nt.transpose(1, 2)
    assert not t.is_contiguous() and t.transpose(1, 2).is_contiguous()
    with pytest.raises(RuntimeError, match="contiguous"):
        t.to_padded_tensor(0.0)
    assert t.contiguous().to_padded_tensor(0.0).shape == (2, 5, 4)
    with pytest.raises(RuntimeError, match="Converting between nested tensor layouts"):
        dlpy.nested.as_nested_tensor(nt, layout=dlpy.nested.jagged)
