"""dlpy/numpy_aliases.py: torch's numpy-style keyword aliases on the builtins' counterparts
(the semantics against torch are the area numpy_kwarg_aliases; this checks the mechanism)."""

import numpy as np
import pytest

import dlpy
from dlpy import functional as F
from dlpy import numpy_aliases
from dlpy.tensor import Tensor


def test_data_names_each_function_once():
    for table in (numpy_aliases.TORCH_FUNCTIONS, numpy_aliases.TENSOR_METHODS,
                  numpy_aliases.FUNCTIONAL):
        names = [n for group in table.values() for n in group.split()]
        assert len(names) == len(set(names))
        assert all(set(key.split()) <= set(numpy_aliases.ALIASES) for key in table)


def _alias_wrapped(function) -> bool:
    """Whether an alias wrapper is among ``function``'s layers (autocast may add its own)."""
    while function is not None:
        if getattr(function, "__code__", None) is not None and \
                function.__code__.co_filename.endswith("numpy_aliases.py"):
            return True
        function = getattr(function, "__wrapped__", None)
    return False


def test_native_alias_left_unwrapped():
    # Tensor.sum takes axis/keepdims itself, Tensor.exp has no aliased parameter: no wrapper
    assert not _alias_wrapped(Tensor.__dict__["sum"])
    assert not _alias_wrapped(Tensor.__dict__["exp"])
    assert _alias_wrapped(Tensor.__dict__["cumsum"]) and _alias_wrapped(F.linear)


def test_wrapper_keeps_name_doc_and_wrapped():
    assert dlpy.exp.__name__ == "exp" and F.linear.__name__ == "linear"
    assert F.linear.__wrapped__.__doc__ == F.linear.__doc__


def test_aliases_rename():
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(dlpy.exp(x=x).data, np.exp(x.data))
    np.testing.assert_allclose(dlpy.add(x1=x, x2=x).data, 2 * x.data)
    np.testing.assert_allclose(x.cumsum(axis=1).data, np.cumsum(x.data, axis=1))
    np.testing.assert_allclose(x.add(x2=x, alpha=2).data, 3 * x.data)
    np.testing.assert_allclose(dlpy.cat([x, x], axis=1).data, np.concatenate([x.data] * 2, 1))
    kw = {"axis": 0}
    np.testing.assert_allclose(dlpy.cumsum(x, **kw).data, np.cumsum(x.data, axis=0))


def test_alias_and_its_parameter_refused():
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(TypeError, match="unexpected keyword argument 'axis'"):
        dlpy.cumsum(x, dim=1, axis=1)
    with pytest.raises(TypeError):
        dlpy.cumsum(x, 1, axis=1)
    with pytest.raises(TypeError):
        dlpy.exp(x, x=x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'x2'"):
        x.add(other=x, x2=x)
    with pytest.raises(TypeError):
        x.exp(x=x)  # a method's input is self


def test_python_defined_refuse():
    x = dlpy.tensor([[1.0, 2.0], [3.0, 4.0]])
    for call in (lambda: F.softmax(x, axis=1), lambda: F.log_softmax(x, axis=1),
                 lambda: x.norm(axis=0), lambda: dlpy.norm(x, keepdims=True)):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            call()
    np.testing.assert_allclose(F.softmax(x, dim=1).data.sum(1), [1.0, 1.0], rtol=1e-6)


def test_renames_follow_forwarders():
    # a *args/**kwargs forwarder is seen through __wrapped__ (torch.sum's out= wrapper)
    positional, names, known = numpy_aliases._parameters(dlpy.sum.__wrapped__, ())
    assert known and positional[0] == "input" and "axis" in names
