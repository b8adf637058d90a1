"""An in-place activation right after a normalisation (torchvision's and transformers' blocks):
the norms' backward reads x and the weight, not their output, so backward works and equals the
out-of-place graph; changing x itself in place is still refused."""

import numpy as np
import pytest

import dlpy
import dlpy.functional as F


def norms():
    weight = np.linspace(0.5, 1.5, 6)
    return {
        "layer_norm": lambda x, w: F.layer_norm(x, w, dlpy.Tensor(np.zeros(6))),
        "group_norm": lambda x, w: F.group_norm(x, 2, w, dlpy.Tensor(np.zeros(6))),
        "rms_norm": lambda x, w: F.rms_norm(x, (6,), w),
        "batch_norm": lambda x, w: F.batch_norm(x, None, None, w, dlpy.Tensor(np.zeros(6)),
                                                training=True),
    }, weight


@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "rms_norm", "batch_norm"])
def test_inplace_activation_after_norm(name, rng):
    table, weight = norms()
    data = rng.standard_normal((3, 6, 6))
    grads = []
    for inplace in (False, True):
        x = dlpy.Tensor(data, requires_grad=True)
        w = dlpy.Tensor(weight, requires_grad=True)
        y = F.relu(table[name](x, w), inplace=inplace)
        (y * dlpy.Tensor(data)).sum().backward()
        grads.append((x.grad.numpy(), w.grad.numpy()))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["layer_norm", "group_norm", "rms_norm"])
def test_changing_the_input_is_still_refused(name, rng):
    table, weight = norms()
    x = dlpy.Tensor(rng.standard_normal((3, 6, 6)), requires_grad=True)
    base = x * 1.0
    y = table[name](base, dlpy.Tensor(weight, requires_grad=True))
    base.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()
