"""libstdc++'s std::sort replayed on positions, for the index results torch's CPU kernels
leave to it (as topk_ties.py replays torch's topk): the same comparisons in the same order, so
equal values (and values nan leaves unordered) end where torch's do."""


def std_sort_order(n: int, less) -> list:
    """The positions 0..n-1 in the order libstdc++'s std::sort leaves them under the
    comparison ``less(i, j)`` (torch's CPU kernels that std::sort by value: mode's (value,
    index) pairs, unique(dim=)'s slices; which of equal values, or of values nan leaves
    unordered, ends where is this algorithm's, not a stable sort's). An introsort:
    median-of-three quicksort down to runs of 16, heapsort past 2 log2(n) levels, then one
    insertion sort."""
    order = list(range(n))

    def sift_down(first, hole, length, value):  # std::__adjust_heap
        top = hole
        child = hole
        while child < (length - 1) // 2:
            child = 2 * (child + 1)
            if less(order[first + child], order[first + child - 1]):
                child -= 1
            order[first + hole] = order[first + child]
            hole = child
        if length % 2 == 0 and child == (length - 2) // 2:
            child = 2 * (child + 1)
            order[first + hole] = order[first + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2  # std::__push_heap
        while hole > top and less(order[first + parent], value):
            order[first + hole] = order[first + parent]
            hole = parent
            parent = (hole - 1) // 2
        order[first + hole] = value

    def heap_sort(first, last):  # std::__partial_sort(first, last, last)
        length = last - first
        if length >= 2:  # std::__make_heap
            for parent in range((length - 2) // 2, -1, -1):
                sift_down(first, parent, length, order[first + parent])
        while last - first > 1:  # std::__sort_heap
            last -= 1
            value = order[last]
            order[last] = order[first]
            sift_down(first, 0, last - first, value)

    def introsort(first, last, depth):
        while last - first > 16:
            if depth == 0:
                heap_sort(first, last)
                return
            depth -= 1
            a, b, c = first + 1, first + (last - first) // 2, last - 1
            if less(order[a], order[b]):
                pick = b if less(order[b], order[c]) else c if less(order[a], order[c]) else a
            else:
                pick = a if less(order[a], order[c]) else c if less(order[b], order[c]) else b
            order[first], order[pick] = order[pick], order[first]
            low, high = first + 1, last  # std::__unguarded_partition around order[first]
            while True:
                while less(order[low], order[first]):
                    low += 1
                high -= 1
                while less(order[first], order[high]):
                    high -= 1
                if not low < high:
                    break
                order[low], order[high] = order[high], order[low]
                low += 1
            introsort(low, last, depth)
            last = low

    def linear_insert(i, start):  # std::__unguarded_linear_insert (bounded for safety)
        value = order[i]
        while i > start and less(value, order[i - 1]):
            order[i] = order[i - 1]
            i -= 1
        order[i] = value

    if n > 1:
        introsort(0, n, 2 * (n.bit_length() - 1))
        head = min(n, 16)
        for i in range(1, head):  # std::__insertion_sort of the first 16
            if less(order[i], order[0]):
                value = order[i]
                order[1:i + 1] = order[0:i]
                order[0] = value
            else:
                linear_insert(i, 0)
        for i in range(head, n):  # std::__unguarded_insertion_sort of the rest
            linear_insert(i, 0)
    return order
