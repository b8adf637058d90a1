"""Round trips of the flags and registries added for torch's leftover namespace names
(torch.backends.mha/nnpack/quantized/miopen, nn.attention's flash registry, utils.deterministic,
autograd's view-replay switch)."""

import importlib

import pytest

import dlpy
from dlpy.backends import mha, miopen, nnpack, quantized
from dlpy.nn import attention


def test_backend_flags_round_trip():
    assert mha.get_fastpath_enabled() is True
    try:
        mha.set_fastpath_enabled(False)
        assert mha.get_fastpath_enabled() is False
    finally:
        mha.set_fastpath_enabled(True)
    assert nnpack.set_flags(False) == (True,)
    with nnpack.flags(enabled=True):
        assert nnpack.set_flags(True) == (True,)
    assert nnpack.set_flags(True) == (False,)
    with pytest.raises(RuntimeError):
        nnpack.set_flags(1)
    with miopen.flags(True):
        assert miopen.immediate is True
    assert miopen.immediate is False
    with pytest.raises(RuntimeError):
        miopen.immediate = 1


def test_quantized_engine():
    assert quantized.engine == "x86"
    try:
        quantized.engine = "fbgemm"
        assert quantized.engine == "fbgemm"
        with pytest.raises(RuntimeError, match="not a valid value"):
            quantized.engine = "foo"
        with pytest.raises(RuntimeError, match="QNNPACK is not supported"):
            quantized.engine = "qnnpack"
        assert quantized.engine == "fbgemm"
    finally:
        quantized.engine = "x86"
    with pytest.raises(RuntimeError):
        quantized.supported_engines = []


def test_flash_registry():
    log = []

    class Handle:
        def remove(self):
            log.append("removed")

    attention.register_flash_attention_impl("T", register_fn=Handle)
    try:
        attention.activate_flash_attention_impl("T")
        assert attention.current_flash_attention_impl() == "T"
        attention.restore_flash_attention_impl()
        assert attention.current_flash_attention_impl() is None and log == ["removed"]
        with pytest.raises(ModuleNotFoundError):
            attention.activate_flash_attention_impl("FA4")
        with pytest.raises(ValueError):
            attention.activate_flash_attention_impl("missing")
    finally:
        attention._FLASH_ATTENTION_IMPLS.pop("T", None)
    assert attention.list_flash_attention_impls() == ["FA3", "FA4"]


def test_deterministic_and_view_replay():
    det = importlib.import_module("dlpy.utils.deterministic")
    try:
        det.fill_uninitialized_memory = False
        assert det.fill_uninitialized_memory is False
    finally:
        det.fill_uninitialized_memory = True
    with pytest.raises(RuntimeError):
        det.fill_uninitialized_memory = 0
    assert not dlpy.autograd.is_view_replay_enabled()
    with dlpy.autograd._force_original_view_tracking(True):
        assert dlpy.autograd.is_view_replay_enabled()
    assert not dlpy.autograd.is_view_replay_enabled()


def test_collect_env_report():
    env = importlib.import_module("dlpy.utils.collect_env")
    info = env.get_env_info()
    assert info.is_cuda_available == "False"
    text = env.get_pretty_env_info()
    assert text.startswith("PyTorch version: ") and "Is CUDA available: False" in text
