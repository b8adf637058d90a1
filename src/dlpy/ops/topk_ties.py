"""torch.topk's choice among tied values on the CPU, replayed: ATen's topk_impl_loop runs
libstdc++'s std::partial_sort (k * 64 <= n) or std::nth_element and std::sort over (value,
position) pairs compared by value alone (nan largest), so which of equal values it returns, and
in what order, is those algorithms' doing. ``topk_positions`` repeats them step for step
(std_sort.py's ``StdAlgorithms``); topk calls it only for rows where a tie decides (a Python
loop, O(n log n) a row)."""

from __future__ import annotations

from dlpy.ops.std_sort import StdAlgorithms


def topk_positions(values, k: int, largest: bool, sorted: bool) -> list[int]:  # noqa: A002
    """The positions torch.topk returns for one row ``values`` (a sequence), in its order."""
    n = len(values)
    q = [(v, i) for i, v in enumerate(values)]
    if largest:
        def comp(a, b):
            x, y = a[0], b[0]
            return (x != x and y == y) or x > y
    else:
        def comp(a, b):
            x, y = a[0], b[0]
            return (x == x and y != y) or x < y
    if k == 0:
        return []
    algorithms = StdAlgorithms(q, comp)
    if k * 64 <= n:
        algorithms.partial_sort(0, k, n)
    else:
        algorithms.nth_element(0, k - 1, n)
        if sorted:  # the first k - 1: the k-th is in place
            algorithms.sort(0, k - 1)
    return [i for _, i in q[:k]]
