"""The order a reverse pass runs its nodes in, as torch's engine: a node once every node using
it has run; of the nodes ready, the one recorded last; a leaf's accumulation as soon as it is
ready; leaves ready together in the order of torch's C++ ready queue. (The random programs of
areas ``hook_order_programs`` and ``autograd_hook_programs`` check it against torch.)"""

import importlib

import numpy as np

import dlpy

engine = importlib.import_module("dlpy.tensor")


def _leaf(*shape, k=0.0):
    n = int(np.prod(shape))
    return dlpy.tensor((np.sin(np.arange(n) + k) * 0.5).reshape(shape), requires_grad=True)


def test_the_node_recorded_last_runs_first():
    x = _leaf(3)
    y = x * 2
    a = y.sin()  # recorded before b
    b = y.exp()
    seen = []
    a.register_hook(lambda g: seen.append("a"))
    b.register_hook(lambda g: seen.append("b"))
    (a + b).sum().backward(retain_graph=True)  # a is the sum's first input, b the newer
    assert seen == ["b", "a"]
    seen.clear()
    x.grad = None
    (b + a).sum().backward()
    assert seen == ["b", "a"]
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(2 * x.detach().numpy())
                               + 2 * np.exp(2 * x.detach().numpy()))


def test_a_leaf_accumulates_once_ready():
    w, v = _leaf(3), _leaf(3, k=1.0)
    seen = []
    h = (w * 3).tanh()  # w's only use: ready once this mul has run
    g = (v * h).exp()
    w.register_post_accumulate_grad_hook(lambda p: seen.append("w"))
    h.register_hook(lambda grad: seen.append("h"))
    v.register_post_accumulate_grad_hook(lambda p: seen.append("v"))
    g.sum().backward()
    # exp, then the mul with v: v ready (accumulated at once), h next, then w
    assert seen == ["v", "h", "w"]


def test_a_node_waits_for_every_use():
    x = _leaf(2)
    a = x.exp()
    seen = []
    a.register_hook(lambda g: seen.append(("a", float(g.sum()))))
    b = a * 2  # older use of a
    c = a.sin()
    c.register_hook(lambda g: seen.append(("c", float(g.sum()))))
    (b.sum() + c.sum()).backward()
    assert [name for name, _ in seen] == ["c", "a"]
    expected = 2 * 2 + float(np.cos(a.detach().numpy()).sum())
    assert abs(seen[1][1] - expected) < 1e-12


def test_several_roots_hang_off_one_root_node():
    x = _leaf(3)
    seen = []
    r1 = (x * 2).sum()
    r2 = (x.exp() + r1).sum()  # uses r1: r1 runs after r2 though listed first
    r1.register_hook(lambda g: seen.append("r1"))
    r2.register_hook(lambda g: seen.append("r2"))
    dlpy.autograd.backward([r1, r2])
    assert seen == ["r2", "r1"]
    # r1 gets 1 from the root and 3 from r2 (broadcast): x gets exp(x) + 4 * 2
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()) + 8)


def test_ready_queue_keeps_cpp_order_among_equals():
    # pop orders of std::priority_queue (libstdc++, keys compared only) for these pushes and
    # pops, taken from a C++ program: -1 pops, anything else pushes (labels 0, 1, ... in
    # push order)
    scripts = {
        (9, 9, 9, 9, 9, -1, -1, -1, -1, -1): [0, 2, 4, 1, 3],
        (1, 5, 9, 9, 3, 9, -1, 9, 9, -1, -1, -1, -1, -1, -1): [2, 5, 6, 7, 3, 1, 4],
        (2, 9, 4, 9, 9, 1, 9, -1, -1, 9, -1, -1, -1, -1, -1, -1): [1, 6, 3, 7, 4, 2, 0, 5],
        (9,) * 8 + (-1,) * 8: [0, 2, 6, 5, 7, 4, 1, 3],
    }
    for script, expected in scripts.items():
        heap, pushed, popped = [], 0, []
        for key in script:
            if key == -1:
                popped.append(engine._heap_pop(heap)[1])
            else:
                engine._heap_push(heap, (-key, pushed))  # (the engine's keys: smallest first)
                pushed += 1
        assert popped == expected, script


def test_leaves_with_hooks_follow_the_ready_queue():
    leaves = [_leaf(2, k=float(k)) for k in range(5)]
    seen = []
    for k, leaf in enumerate(leaves):
        leaf.register_hook(lambda g, k=k: seen.append(k))
    total = leaves[0] * leaves[1] * leaves[2]  # two muls: leaves 0, 1 ready together
    (total.sum() + (leaves[3] + leaves[4]).sum()).backward()
    # the add of leaves 3 and 4 (newest) runs first: 3 and 4 ready together, popped from the
    # queue in libstdc++'s order; then the second mul (leaf 2), then the first (leaves 0, 1):
    # torch 2.13's order
    assert seen == [3, 4, 2, 0, 1]
