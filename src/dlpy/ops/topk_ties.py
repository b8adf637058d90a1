"""torch.topk's choice among tied values on the CPU, replayed: ATen's topk_impl_loop runs
libstdc++'s std::partial_sort (k * 64 <= n) or std::nth_element and std::sort over (value,
position) pairs compared by value alone (nan largest), so which of equal values it returns, and
in what order, is those algorithms' doing. ``topk_positions`` repeats them step for step; topk
calls it only for rows where a tie decides (a Python loop, O(n log n) a row)."""

from __future__ import annotations


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

    def insertion_sort(lo, hi):
        for i in range(lo + 1, hi):
            val = q[i]
            if comp(val, q[lo]):
                q[lo + 1:i + 1] = q[lo:i]
                q[lo] = val
            else:
                j = i
                while comp(val, q[j - 1]):
                    q[j] = q[j - 1]
                    j -= 1
                q[j] = val

    def move_median_to_first(result, a, b, c):
        if comp(q[a], q[b]):
            if comp(q[b], q[c]):
                m = b
            elif comp(q[a], q[c]):
                m = c
            else:
                m = a
        elif comp(q[a], q[c]):
            m = a
        elif comp(q[b], q[c]):
            m = c
        else:
            m = b
        q[result], q[m] = q[m], q[result]

    def partition_pivot(lo, hi):
        mid = lo + (hi - lo) // 2
        move_median_to_first(lo, lo + 1, mid, hi - 1)
        first, last, pivot = lo + 1, hi, q[lo]
        while True:
            while comp(q[first], pivot):
                first += 1
            last -= 1
            while comp(pivot, q[last]):
                last -= 1
            if not first < last:
                return first
            q[first], q[last] = q[last], q[first]
            first += 1

    def adjust_heap(lo, hole, length, value):
        top = hole
        second = hole
        while second < (length - 1) // 2:
            second = 2 * (second + 1)
            if comp(q[lo + second], q[lo + second - 1]):
                second -= 1
            q[lo + hole] = q[lo + second]
            hole = second
        if length % 2 == 0 and second == (length - 2) // 2:
            second = 2 * (second + 1)
            q[lo + hole] = q[lo + second - 1]
            hole = second - 1
        parent = (hole - 1) // 2
        while hole > top and comp(q[lo + parent], value):
            q[lo + hole] = q[lo + parent]
            hole = parent
            parent = (hole - 1) // 2
        q[lo + hole] = value

    def make_heap(lo, hi):
        length = hi - lo
        if length < 2:
            return
        parent = (length - 2) // 2
        while True:
            adjust_heap(lo, parent, length, q[lo + parent])
            if parent == 0:
                return
            parent -= 1

    def pop_heap(lo, hi, result):
        value = q[result]
        q[result] = q[lo]
        adjust_heap(lo, 0, hi - lo, value)

    def heap_select(lo, mid, hi):
        make_heap(lo, mid)
        for i in range(mid, hi):
            if comp(q[i], q[lo]):
                pop_heap(lo, mid, i)

    def sort_heap(lo, hi):
        while hi - lo > 1:
            hi -= 1
            pop_heap(lo, hi, hi)

    def partial_sort(lo, mid, hi):
        heap_select(lo, mid, hi)
        sort_heap(lo, mid)

    def lg(m):
        return m.bit_length() - 1

    def introsort_loop(lo, hi, depth):
        while hi - lo > 16:
            if depth == 0:
                partial_sort(lo, hi, hi)
                return
            depth -= 1
            cut = partition_pivot(lo, hi)
            introsort_loop(cut, hi, depth)
            hi = cut

    def std_sort(lo, hi):
        if lo != hi:
            introsort_loop(lo, hi, lg(hi - lo) * 2)
            insertion_sort(lo, hi)  # __final_insertion_sort: the same result

    def nth_element(lo, nth, hi):
        if lo == hi or nth == hi:
            return
        depth = lg(hi - lo) * 2
        while hi - lo > 3:
            if depth == 0:
                heap_select(lo, nth + 1, hi)
                q[lo], q[nth] = q[nth], q[lo]
                return
            depth -= 1
            cut = partition_pivot(lo, hi)
            if cut <= nth:
                lo = cut
            else:
                hi = cut
        insertion_sort(lo, hi)

    if k == 0:
        return []
    if k * 64 <= n:
        partial_sort(0, k, n)
    else:
        nth_element(0, k - 1, n)
        if sorted:  # the first k - 1: the k-th is in place
            std_sort(0, k - 1)
    return [i for _, i in q[:k]]
