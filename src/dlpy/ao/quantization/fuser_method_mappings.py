"""torch.ao.quantization.fuser_method_mappings: how ``fuse_modules`` fuses each sequence of
module types (``fuse_conv_bn``, ``fuse_conv_bn_relu``, ``fuse_linear_bn``,
``fuse_convtranspose_bn``, the intrinsic Sequentials), looked up by ``get_fuser_method``.
Eager fusion (``is_qat`` False) folds the batch norm into the layer (``nn.utils.fusion``);
QAT fusion keeps it (``intrinsic.ConvBn2d``, ...). The checks and errors are torch's."""

from __future__ import annotations

from collections.abc import Callable

from dlpy import nn
from dlpy.ao.nn import intrinsic as nni
from dlpy.nn.utils import fuse_conv_bn_eval, fuse_linear_bn_eval
from dlpy.ops import ArgAssertionError

__all__ = ["fuse_conv_bn", "fuse_conv_bn_relu", "fuse_convtranspose_bn", "fuse_linear_bn",
           "get_fuser_method"]


class FuseModeError(ArgAssertionError):
    """Modules to fuse in different modes, a batch norm QAT fusion cannot keep, or a type
    sequence with no fuser method: torch's AssertionError (a ValueError too)."""


def _same_mode(what: str, *modules) -> None:
    if len({m.training for m in modules}) != 1:
        raise FuseModeError(f"{what} both must be in the same mode (train or eval).")


def _check_qat_bn(layer_out: int, bn, what: str, bn_name: str) -> None:
    if bn.num_features != layer_out:
        raise FuseModeError(f"{what} must match num_features of {bn_name}")
    if not bn.affine:
        raise FuseModeError(f"Only support fusing {bn_name} with affine set to True")
    if not bn.track_running_stats:
        raise FuseModeError(f"Only support fusing {bn_name} with tracking_running_stats set "
                            f"to True")


def fuse_conv_bn(is_qat: bool, conv, bn):
    """Conv1d/2d/3d + BatchNorm: folded into one conv (eval), or intrinsic.ConvBn*d (QAT)."""
    _same_mode("Conv and BN", conv, bn)
    if not is_qat:
        return fuse_conv_bn_eval(conv, bn)
    _check_qat_bn(conv.out_channels, bn, "Output channel of Conv2d", "BatchNorm2d")
    fused = {nn.Conv1d: nni.ConvBn1d, nn.Conv2d: nni.ConvBn2d,
             nn.Conv3d: nni.ConvBn3d}.get(type(conv))
    if fused is None:
        raise NotImplementedError(f"Cannot fuse train modules: {(conv, bn)}")
    return fused(conv, bn)


def fuse_conv_bn_relu(is_qat: bool, conv, bn, relu):
    """Conv + BatchNorm + ReLU: intrinsic.ConvReLU*d of the folded conv (eval), or
    intrinsic.ConvBnReLU*d (QAT)."""
    _same_mode("Conv and BN", conv, bn, relu)
    if is_qat:
        _check_qat_bn(conv.out_channels, bn, "Output channel of Conv2d", "BatchNorm2d")
        fused = {nn.Conv1d: nni.ConvBnReLU1d, nn.Conv2d: nni.ConvBnReLU2d,
                 nn.Conv3d: nni.ConvBnReLU3d}.get(type(conv))
        if fused is None:
            raise NotImplementedError(f"Cannot fuse train modules: {(conv, bn, relu)}")
        return fused(conv, bn, relu)
    fused = {nn.Conv1d: nni.ConvReLU1d, nn.Conv2d: nni.ConvReLU2d,
             nn.Conv3d: nni.ConvReLU3d}.get(type(conv))
    if fused is None:
        raise NotImplementedError(f"Cannot fuse eval modules: {(conv, bn, relu)}")
    return fused(fuse_conv_bn_eval(conv, bn), relu)


def fuse_linear_bn(is_qat: bool, linear, bn):
    """Linear + BatchNorm1d: one Linear (eval), or intrinsic.LinearBn1d (QAT)."""
    _same_mode("Linear and BN", linear, bn)
    if not is_qat:
        return fuse_linear_bn_eval(linear, bn)
    _check_qat_bn(linear.out_features, bn, "Output features of Linear", "BatchNorm1d")
    return nni.LinearBn1d(linear, bn)


class _QatTransposeError(Exception):
    """torch raises a bare Exception here."""


def fuse_convtranspose_bn(is_qat: bool, convt, bn):
    """ConvTranspose1d/2d/3d + BatchNorm: one transposed conv (eval); QAT cannot fuse it."""
    _same_mode("ConvTranspose and BN", convt, bn)
    if is_qat:
        raise _QatTransposeError("Fusing ConvTranspose+BatchNorm not yet supported in QAT.")
    return fuse_conv_bn_eval(convt, bn, transpose=True)


def _sequential_wrapper2(sequential: type) -> Callable:
    """A fuser method making ``sequential(m1, m2)`` whatever ``is_qat``."""
    def fuser_method(is_qat, m1, m2):
        return sequential(m1, m2)

    return fuser_method


_DEFAULT_OP_LIST_TO_FUSER_METHOD: dict[tuple, Callable] = {
    (nn.Conv1d, nn.BatchNorm1d): fuse_conv_bn,
    (nn.Conv1d, nn.BatchNorm1d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv2d, nn.BatchNorm2d): fuse_conv_bn,
    (nn.Conv2d, nn.BatchNorm2d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv3d, nn.BatchNorm3d): fuse_conv_bn,
    (nn.Conv3d, nn.BatchNorm3d, nn.ReLU): fuse_conv_bn_relu,
    (nn.Conv1d, nn.ReLU): _sequential_wrapper2(nni.ConvReLU1d),
    (nn.Conv2d, nn.ReLU): _sequential_wrapper2(nni.ConvReLU2d),
    (nn.Conv3d, nn.ReLU): _sequential_wrapper2(nni.ConvReLU3d),
    (nn.Linear, nn.BatchNorm1d): fuse_linear_bn,
    (nn.Linear, nn.ReLU): _sequential_wrapper2(nni.LinearReLU),
    (nn.BatchNorm2d, nn.ReLU): _sequential_wrapper2(nni.BNReLU2d),
    (nn.BatchNorm3d, nn.ReLU): _sequential_wrapper2(nni.BNReLU3d),
    (nn.ConvTranspose1d, nn.BatchNorm1d): fuse_convtranspose_bn,
    (nn.ConvTranspose2d, nn.BatchNorm2d): fuse_convtranspose_bn,
    (nn.ConvTranspose3d, nn.BatchNorm3d): fuse_convtranspose_bn,
}


def get_fuser_method(op_list: tuple, additional_fuser_method_mapping: dict | None = None
                     ) -> Callable:
    """The fuser method of a tuple of module types (``additional_fuser_method_mapping``
    first); none is torch's AssertionError."""
    mapping = {**_DEFAULT_OP_LIST_TO_FUSER_METHOD, **(additional_fuser_method_mapping or {})}
    fuser_method = mapping.get(op_list)
    if fuser_method is None:
        raise FuseModeError(f"did not find fuser method for: {op_list} ")
    return fuser_method
