"""``weights=``: None (the initialisation) or a local ``.npz`` of a state dict.

torchvision's ``.pth`` files need torch to unpickle and dlpy never imports torch; convert one
once where torch and torchvision are installed::

    import torchvision
    from dlpy import nn
    from dlpy.vision import models

    source = torchvision.models.resnet18(weights="IMAGENET1K_V1")
    model = models.resnet18()
    model.load_state_dict(source.state_dict())   # torch tensors are accepted
    nn.save_checkpoint("resnet18.npz", model)

then ``models.resnet18(weights="resnet18.npz")`` anywhere.

``WeightsEnum``: torchvision's enums of published weights by name (``VGG16_Weights.IMAGENET1K_V1``,
``.DEFAULT``, ``.url``), so code naming them imports and compares; passing one as ``weights=``
raises (it would be a download), pointing at the conversion above.
"""

from __future__ import annotations

import enum
import os
from typing import Any, NamedTuple

from dlpy.nn.module import Module, load_checkpoint, load_npz


class Weights(NamedTuple):
    """One published set of weights: where torchvision downloads it from, and its facts."""

    url: str
    meta: dict[str, Any]


class WeightsEnum(enum.Enum):
    """torchvision's enum of a model's published weights (members ``IMAGENET1K_V1``, ...,
    ``DEFAULT`` an alias of the recommended one), by name: dlpy downloads nothing, so a member
    passed as ``weights=`` is refused with the way to convert the file instead."""

    @classmethod
    def verify(cls, obj):
        """torchvision's check: a member of this enum (a name given as a string becomes one), or
        None."""
        if obj is None or isinstance(obj, cls):
            return obj
        if isinstance(obj, str):
            return cls[obj.replace(cls.__name__ + ".", "")]
        raise TypeError(f"Invalid Weight class provided; expected {cls.__name__} but received "
                        f"{obj.__class__.__name__}.")

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def meta(self) -> dict[str, Any]:
        return self.value.meta

    def get_state_dict(self, *args, **kwargs):
        """torchvision downloads the file here; dlpy refuses (see ``weights_path``)."""
        raise RuntimeError(_download_refused(self))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}.{self._name_}"


def _download_refused(weights: WeightsEnum) -> str:
    return (f"{weights!r} names torchvision's download {weights.url}: dlpy downloads nothing "
            "and cannot unpickle torch's .pth without torch; convert once where torch is "
            "installed: model.load_state_dict(torchvision_model.state_dict()); "
            "dlpy.nn.save_checkpoint('model.npz', model), then pass weights='model.npz'")


class WeightsDownloadError(ValueError, RuntimeError):
    """A ``WeightsEnum`` member given as ``weights=``: a download, which dlpy never does."""


def weights_path(weights, name: str) -> str | None:
    """``weights`` checked before a model is built: None, or the path of a local ``.npz`` (a
    ``WeightsEnum`` member is refused: it names a download)."""
    if weights is None:
        return None
    if isinstance(weights, WeightsEnum):
        raise WeightsDownloadError(f"{name}: {_download_refused(weights)}")
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"{name}: weights must be None or the path of a local .npz file, got "
                        f"{type(weights).__name__}")
    path = os.fspath(weights)
    if not path.endswith(".npz"):
        raise ValueError(
            f"{name}: weights must be a local .npz file (dlpy downloads nothing and cannot "
            f"unpickle torch's .pth without torch), got {path!r}; convert once where torch is "
            "installed: model.load_state_dict(torchvision_model.state_dict()); "
            "dlpy.nn.save_checkpoint('model.npz', model)")
    return path


def load_weights(model: Module, path: str | os.PathLike | None) -> Module:
    """Load the ``.npz`` at ``path`` (a ``nn.save_checkpoint`` file, or a plain state dict from
    ``nn.save_npz``) into ``model`` strictly; None leaves the model as it is. Returns it."""
    if path is None:
        return model
    arrays = load_npz(path)
    if "__meta__" in arrays or any(k.startswith("param/") for k in arrays):
        load_checkpoint(path, model)
        return model
    try:
        model.load_state_dict(arrays)
    except ValueError as err:
        raise ValueError(f"{os.fspath(path)}: {err}") from None
    return model
