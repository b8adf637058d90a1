"""What Hugging Face accelerate reaches in torch, as plain dlpy: ``torch._dynamo`` on first
attribute access and ``torch._dynamo.eval_frame.OptimizedModule``; ``torch.save`` of numpy
arrays of dtypes torch has no storage for (``np.random.get_state()``'s uint32 key), pickled
as numpy pickles them, and read back."""

import io

import numpy as np
import pytest

import dlpy
from dlpy import nn


def test_dynamo_is_an_attribute_and_names_optimized_module():
    assert dlpy._dynamo.eval_frame.OptimizedModule is dlpy.compiler.OptimizedModule
    assert isinstance(dlpy.compile(nn.Linear(2, 2)), dlpy._dynamo.eval_frame.OptimizedModule)


def test_save_pickles_arrays_without_a_torch_storage():
    state = {"numpy": np.random.RandomState(3).get_state(), "w": dlpy.ones(2)}
    buffer = io.BytesIO()
    dlpy.save(state, buffer)
    buffer.seek(0)
    back = dlpy.load(buffer, weights_only=False)
    assert back["numpy"][0] == "MT19937" and back["numpy"][1].dtype == np.uint32
    assert np.array_equal(back["numpy"][1], state["numpy"][1])
    assert back["w"].tolist() == [1.0, 1.0]
    with pytest.raises(TypeError, match="dtype uint32"):  # save_tree still refuses
        dlpy.serialization.save_tree({"a": np.zeros(2, np.uint32)}, io.BytesIO())
