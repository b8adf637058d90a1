"""linalg.ldl_factor vectorised over the batch (batch kept last, 1x1 updates on every matrix
under a mask): a matrix's factor and pivots are bit for bit those it gets alone, whatever its
neighbours take (2x2 blocks, zero columns, entries near overflow), and the factors solve."""

import numpy as np
import pytest

import dlpy
import dlpy.linalg as LA


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the 1e200 matrix's own tests
def test_ldl_batch_equals_each_matrix_alone_with_awkward_neighbours():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 6, 6))
    a = a + np.swapaxes(a, -1, -2)
    a[1, 0, 0] = a[1, 1, 1] = 0.0  # a 2x2 block at column 0
    a[2] = a[1]
    a[2, 0, 1] = a[2, 1, 0] = 1e200  # the same block; x x^T of its column 0 overflows float64
    a[3, :, 2] = a[3, 2, :] = 0.0  # a zero column: info 3
    ld, pivots, info = LA.ldl_factor_ex(dlpy.tensor(a))
    assert info.numpy().tolist() == [0, 0, 0, 3, 0]
    assert (pivots.numpy()[1, :2] < 0).all() and np.isfinite(ld.numpy()[2]).all()
    for i in range(len(a)):
        alone = LA.ldl_factor_ex(dlpy.tensor(a[i]))
        np.testing.assert_array_equal(alone.pivots.numpy(), pivots.numpy()[i])
        np.testing.assert_array_equal(alone.LD.numpy(), ld.numpy()[i])
    solvable = [0, 1, 4]
    b = rng.standard_normal((len(solvable), 6, 2))
    x = LA.ldl_solve(ld[solvable], pivots[solvable], dlpy.tensor(b)).numpy()
    np.testing.assert_allclose(a[solvable] @ x, b, atol=1e-9)
