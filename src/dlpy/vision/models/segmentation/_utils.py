"""torchvision.models.segmentation's building blocks: IntermediateLayerGetter (a backbone's
children up to the last one asked for, returning those outputs by name) and the
backbone + classifier (+ aux_classifier) model whose outputs are upsampled to the input."""

from __future__ import annotations

from collections import OrderedDict

from dlpy import functional as F
from dlpy import nn


class IntermediateLayerGetter(nn.Module):
    """model's children in order up to the last name of return_layers (the rest dropped);
    forward returns an OrderedDict {return_layers[name]: that child's output}."""

    def __init__(self, model: nn.Module, return_layers: dict[str, str]):
        super().__init__()
        children = dict(model.named_children())
        missing = [name for name in return_layers if name not in children]
        if missing:
            raise ValueError(f"IntermediateLayerGetter: return_layers {missing} are not "
                             f"children of the model ({list(children)})")
        self.return_layers = dict(return_layers)
        left = set(return_layers)
        for name, module in children.items():
            self.add_module(name, module)
            left.discard(name)
            if not left:
                break

    def forward(self, x) -> OrderedDict:
        out = OrderedDict()
        for name, module in self.named_children():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


def upsample_to(x, size):
    """Bilinear (align_corners=False) resize of (N, C, h, w) to size (H, W)."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class _SimpleSegmentationModel(nn.Module):
    """backbone (an IntermediateLayerGetter giving "out" and, with aux_classifier, "aux"),
    classifier and aux_classifier heads; returns {"out": (N, classes, H, W), "aux": ...} at
    the input's size."""

    def __init__(self, backbone: nn.Module, classifier: nn.Module,
                 aux_classifier: nn.Module | None = None):
        super().__init__()
        self.backbone, self.classifier, self.aux_classifier = backbone, classifier, \
            aux_classifier

    def forward(self, x) -> OrderedDict:
        size = x.shape[-2:]
        features = self.backbone(x)
        result = OrderedDict(out=upsample_to(self.classifier(features["out"]), size))
        if self.aux_classifier is not None:
            result["aux"] = upsample_to(self.aux_classifier(features["aux"]), size)
        return result


def dilated_resnet(constructor, weights_backbone, rng):
    """constructor() (resnet50 / resnet101) with torchvision's replace_stride_with_dilation=
    [False, True, True]: layer3 and layer4 keep the resolution (output stride 8), their 3x3
    convolutions dilated 2 and 4 (the first block of each: the previous dilation)."""
    backbone = constructor(weights=weights_backbone, rng=rng)
    for layer, previous, dilation in ((backbone.layer3, 1, 2), (backbone.layer4, 2, 4)):
        for i, block in enumerate(layer):
            d = previous if i == 0 else dilation
            block.conv2.stride, block.conv2.dilation, block.conv2.padding = (1, 1), (d, d), \
                (d, d)
            if block.downsample is not None:
                block.downsample[0].stride = (1, 1)
    return backbone


def mobilenet_stage_indices(features) -> list[int]:
    """torchvision's [0] + the blocks that begin a stage (config stride 2; in a dilated
    backbone the depthwise stride is 1 there and the dilation grows) + [last]."""
    starts, previous = [], 1
    for i, block in enumerate(features):
        convs = [m for m in block.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
        if not convs:
            continue
        depthwise = convs[0]
        if depthwise.stride[0] > 1 or depthwise.dilation[0] > previous:
            starts.append(i)
        previous = depthwise.dilation[0]
    return [0] + starts + [len(features) - 1]
