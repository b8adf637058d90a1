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
"""

from __future__ import annotations

import os

from dlpy.nn.module import Module, load_checkpoint, load_npz


def weights_path(weights, name: str) -> str | None:
    """``weights`` checked before a model is built: None, or the path of a local ``.npz``."""
    if weights is None:
        return None
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
