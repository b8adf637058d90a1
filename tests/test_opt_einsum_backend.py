"""dlpy.backends.opt_einsum as torch's: available where the package is installed, and then the
order einsum contracts three or more operands in (the values do not depend on it)."""

import numpy as np
import pytest

import dlpy
from dlpy.backends import opt_einsum


def test_flags_follow_the_package():
    assert opt_einsum.is_available() == (opt_einsum.get_opt_einsum() is not None)
    if not opt_einsum.is_available():
        assert opt_einsum.enabled is False and opt_einsum.strategy is None
        with pytest.raises(ValueError, match="not available"):
            opt_einsum.set_flags(True)
        return
    assert opt_einsum.enabled is True and opt_einsum.strategy == "auto"
    with opt_einsum.flags(strategy="optimal"):
        assert opt_einsum.strategy == "optimal"
    assert opt_einsum.strategy == "auto"
    with pytest.raises(ValueError, match="must be one of"):
        opt_einsum.set_flags(None, "fastest")


def test_every_path_gives_the_same_product_and_gradients():
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in [(3, 40), (40, 5), (5, 60), (60, 2)]]

    def run():
        xs = [dlpy.tensor(a, requires_grad=True) for a in arrays]
        y = dlpy.einsum("ab,bc,cd,de->ae", *xs)
        y.sum().backward()
        return y.data, [x.grad.data for x in xs]

    expected = arrays[0] @ arrays[1] @ arrays[2] @ arrays[3]
    settings = [(False, None)]
    if opt_einsum.is_available():
        settings += [(True, "greedy"), (True, "optimal"), (True, "auto")]
    for enabled, strategy in settings:
        with opt_einsum.flags(enabled=enabled, strategy=strategy):
            y, grads = run()
        np.testing.assert_allclose(y, expected, rtol=1e-12)
        np.testing.assert_allclose(grads[0], np.ones((3, 2)) @ (arrays[1] @ arrays[2]
                                                               @ arrays[3]).T, rtol=1e-12)
