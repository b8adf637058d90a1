"""libstdc++'s sorting algorithms replayed in Python for the index results torch's CPU kernels
leave to them: std::sort (mode's (value, index) pairs, unique(dim=)'s slices; std_sort_order),
std::partial_sort and std::nth_element (topk's ties: topk_ties.py). The same comparisons in the
same order as libstdc++'s code, so equal values, and values nan leaves unordered (a comparison
that is no strict weak order), end where torch's do."""

from __future__ import annotations

from collections.abc import Callable


class StdAlgorithms:
    """libstdc++'s algorithms over the list ``items`` in place, under ``less(a, b)``, on ranges
    [first, last) of positions: introsort (median-of-three quicksort down to runs of 16,
    heapsort past 2 log2(n) levels, then one insertion sort), partial_sort and nth_element."""

    def __init__(self, items: list, less: Callable):
        self.items, self.less = items, less

    def adjust_heap(self, first: int, hole: int, length: int, value) -> None:
        """std::__adjust_heap, then std::__push_heap of ``value`` from the hole."""
        q, less = self.items, self.less
        top = child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if less(q[first + child], q[first + child - 1]):
                child -= 1
            q[first + hole] = q[first + child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            q[first + hole] = q[first + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2
        while hole > top and less(q[first + parent], value):
            q[first + hole] = q[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        q[first + hole] = value

    def heap_select(self, first: int, middle: int, last: int) -> None:
        """std::__heap_select: a max-heap of [first, middle) holding the smallest of all."""
        q, length = self.items, middle - first
        if length >= 2:  # std::__make_heap
            for parent in range((length - 2) // 2, -1, -1):
                self.adjust_heap(first, parent, length, q[first + parent])
        for i in range(middle, last):
            if self.less(q[i], q[first]):  # std::__pop_heap into i
                value, q[i] = q[i], q[first]
                self.adjust_heap(first, 0, length, value)

    def partial_sort(self, first: int, middle: int, last: int) -> None:
        """std::__partial_sort: heap_select, then std::__sort_heap of [first, middle)."""
        q = self.items
        self.heap_select(first, middle, last)
        while middle - first > 1:
            middle -= 1
            value, q[middle] = q[middle], q[first]
            self.adjust_heap(first, 0, middle - first, value)

    def partition_pivot(self, first: int, last: int) -> int:
        """std::__unguarded_partition_pivot: the median of three moved to first, then the
        range partitioned around it; the cut."""
        q, less = self.items, self.less
        a, b, c = first + 1, first + (last - first) // 2, last - 1
        if less(q[a], q[b]):
            pick = b if less(q[b], q[c]) else c if less(q[a], q[c]) else a
        else:
            pick = a if less(q[a], q[c]) else c if less(q[b], q[c]) else b
        q[first], q[pick] = q[pick], q[first]
        low, high = first + 1, last
        while True:
            while less(q[low], q[first]):
                low += 1
            high -= 1
            while less(q[first], q[high]):
                high -= 1
            if not low < high:
                return low
            q[low], q[high] = q[high], q[low]
            low += 1

    def linear_insert(self, i: int, first: int) -> None:
        """std::__unguarded_linear_insert (bounded at ``first`` for safety)."""
        q, value = self.items, self.items[i]
        while i > first and self.less(value, q[i - 1]):
            q[i] = q[i - 1]
            i -= 1
        q[i] = value

    def insertion_sort(self, first: int, last: int) -> None:
        """std::__insertion_sort: each element before the first moved to the front."""
        q = self.items
        for i in range(first + 1, last):
            if self.less(q[i], q[first]):
                value = q[i]
                q[first + 1:i + 1] = q[first:i]
                q[first] = value
            else:
                self.linear_insert(i, first)

    def sort(self, first: int, last: int) -> None:
        """std::sort: introsort, then __final_insertion_sort (guarded over the first 16,
        unguarded after)."""
        if last - first < 2:
            return
        self._introsort(first, last, 2 * ((last - first).bit_length() - 1))
        head = min(last, first + 16)
        self.insertion_sort(first, head)
        for i in range(head, last):
            self.linear_insert(i, first)

    def _introsort(self, first: int, last: int, depth: int) -> None:
        while last - first > 16:
            if depth == 0:
                self.partial_sort(first, last, last)
                return
            depth -= 1
            cut = self.partition_pivot(first, last)
            self._introsort(cut, last, depth)
            last = cut

    def nth_element(self, first: int, nth: int, last: int) -> None:
        """std::nth_element (std::__introselect)."""
        if first == last or nth == last:
            return
        depth = 2 * ((last - first).bit_length() - 1)
        while last - first > 3:
            if depth == 0:
                self.heap_select(first, nth + 1, last)
                q = self.items
                q[first], q[nth] = q[nth], q[first]
                return
            depth -= 1
            cut = self.partition_pivot(first, last)
            if cut <= nth:
                first = cut
            else:
                last = cut
        self.insertion_sort(first, last)


def std_sort_order(n: int, less) -> list:
    """The positions 0..n-1 in the order libstdc++'s std::sort leaves them under the
    comparison ``less(i, j)`` of two positions."""
    order = list(range(n))
    StdAlgorithms(order, less).sort(0, n)
    return order
