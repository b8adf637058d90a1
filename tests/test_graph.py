"""dlpy.graph: DOT text of a recorded graph, rendering, and validation."""

import re
import shutil

import numpy as np
import pytest

import dlpy.functional as F
from dlpy import Tensor, graph
from dlpy.nn import Parameter
from dlpy.ops.arithmetic import Add


def _small_model():
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 3)), name="x")
    w = Parameter(rng.standard_normal((2, 3)))
    b = Parameter(np.zeros(2))
    loss = F.cross_entropy(F.relu(F.linear(x, w, b)) * 2.0, [0, 1, 1, 0])
    return loss, x, w, b


def _nodes(dot):
    return dict(re.findall(r'^\s+(\w+) \[label="([^"]*)"', dot, flags=re.M))


def test_to_dot_draws_ops_shapes_and_marks_parameters():
    loss, x, w, b = _small_model()
    dot = graph.to_dot(loss, params={"fc.weight": w, "fc.bias": b})
    assert dot.startswith("digraph dlpy {") and dot.rstrip().endswith("}")
    labels = _nodes(dot)
    op_labels = [label for node, label in labels.items() if node.startswith("op")]
    assert op_labels == ["Linear", "ReLU", "Mul", "SoftmaxCrossEntropy"]
    tensor_labels = [label for node, label in labels.items() if node.startswith("t")]
    assert r"x\n(4, 3) float64" in tensor_labels  # an input that needs no gradient
    assert r"fc.weight\n(2, 3) float64" in tensor_labels
    assert r"fc.bias\n(2,) float64" in tensor_labels
    assert r"2\n() float64" in tensor_labels  # the constant in `* 2.0`
    assert "() float64" in tensor_labels  # the loss
    green = re.findall(r'label="([^"]*)", shape=box, style=filled, fillcolor="#c8e6c9"', dot)
    assert sorted(green) == [r"fc.bias\n(2,) float64", r"fc.weight\n(2, 3) float64"]
    assert dot.count("->") == 3 + 1 + 1 + 2 + 1 + 1 + 1 + 1  # inputs->op and op->output edges


def test_unnamed_parameters_and_leaves_are_marked():
    w = Parameter(np.ones(2))
    leaf = Tensor(np.ones(2), requires_grad=True)
    dot = graph.to_dot(w * leaf)
    assert r'label="parameter\n(2,) float64", shape=box' in dot
    assert r'label="leaf\n(2,) float64", shape=box' in dot


def test_to_dot_works_after_backward_freed_the_graph():
    loss, *_ = _small_model()
    before = graph.to_dot(loss)
    loss.backward()
    assert graph.to_dot(loss) == before


def test_to_dot_of_a_long_chain_and_of_a_leaf():
    x = Tensor(np.ones(1), requires_grad=True)
    y = x
    for _ in range(3000):
        y = y + x
    dot = graph.to_dot(y)
    assert dot.count("[label=\"Add\"") == 3000
    assert graph.to_dot(x).count("[label=") == 1


def test_names_are_escaped():
    x = Tensor(np.ones(1), requires_grad=True, name='say "hi" \\')
    assert r'label="say \"hi\" \\\n(1,) float64"' in graph.to_dot(x)


def test_to_dot_needs_a_tensor():
    with pytest.raises(TypeError, match="to_dot: expected a Tensor, got ndarray"):
        graph.to_dot(np.ones(2))


def test_save_dot_text_needs_no_graphviz(tmp_path):
    loss, *_ = _small_model()
    path = graph.save(loss, tmp_path / "graph.dot")
    assert path.read_text() == graph.to_dot(loss)


def test_save_without_the_dot_program_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    loss, *_ = _small_model()
    with pytest.raises(RuntimeError, match=r"needs the Graphviz `dot` program.*apt-get install "
                                           r"graphviz"):
        graph.save(loss, tmp_path / "graph.svg")
    assert not (tmp_path / "graph.svg").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")
def test_save_renders_svg_with_dot(tmp_path):
    loss, *_ = _small_model()
    path = graph.save(loss, tmp_path / "graph.svg")
    text = path.read_text()
    assert "<svg" in text and "SoftmaxCrossEntropy" in text


def test_save_needs_a_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"graph.save: .* needs a suffix"):
        graph.save(Tensor(np.ones(1)), tmp_path / "graph")


# ----------------------------------------------------------------- validate
def test_validate_counts_a_good_graph_before_and_after_backward():
    loss, *_ = _small_model()
    expected = {"tensors": 8, "ops": 4, "parameters": 2}
    assert graph.validate(loss) == expected
    loss.backward()
    assert graph.validate(loss) == expected


def test_validate_finds_a_cycle():
    x = Tensor(np.ones(2), requires_grad=True)
    a = x * 2
    b = a + 1
    a.op.inputs = (b, a.op.inputs[1])  # tampered: a now depends on itself through b
    with pytest.raises(ValueError, match=r"validate: the graph has a cycle through Add -> Mul"):
        graph.validate(b)


def test_validate_finds_an_op_instance_used_twice():
    x = Tensor(np.ones(2), requires_grad=True)
    y = Tensor(np.ones(2), requires_grad=True)
    add = Add()
    first = add(x, x)
    second = Add()(y, y)
    second.op = add  # two tensors claim one op instance (calling it again is its backward)
    with pytest.raises(ValueError, match=r"validate: one Add op produced 2 tensors \[\(2,\), "
                                         r"\(2,\)\]; create a new op instance for every call"):
        graph.validate(first * second)


def test_validate_finds_inconsistent_shapes():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2
    y.data = np.ones((3, 3))  # changed after the op recorded it
    with pytest.raises(ValueError, match=r"validate: Mul produced \(3, 3\) from inputs "
                                         r"\[\(2, 3\), \(\)\], which broadcast to \(2, 3\)"):
        graph.validate(y)
    z = F.relu(x)
    z.data = np.ones(6)
    with pytest.raises(ValueError, match=r"validate: ReLU produced \(6,\) from an input of"):
        graph.validate(z)


def test_validate_finds_a_gradient_of_the_wrong_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    x.grad = np.ones((2, 3))
    x.grad.data = np.ones(3)  # the array behind the gradient replaced (assignment checks)
    with pytest.raises(ValueError, match=r"validate: a tensor of shape \(2, 3\) has a gradient "
                                         r"of shape \(3,\)"):
        graph.validate(x * 2)
