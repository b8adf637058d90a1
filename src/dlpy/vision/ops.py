"""torchvision.ops: boxes (convert, area, IoU and its generalised, distance and complete forms,
clipping, NMS), their losses and the sigmoid focal loss, RoI Align / RoI Pool, and the layers
torchvision's models are built from (Conv2dNormActivation, SqueezeExcitation, MLP, Permute,
StochasticDepth, DropBlock2d, FeaturePyramidNetwork).

Boxes are (..., 4) Tensors or arrays, (x1, y1, x2, y2) unless a ``fmt`` says otherwise; box
functions are composed of dlpy ops, so their gradients come from autograd. Index results
(nms, batched_nms, remove_small_boxes) are int64 Tensors outside the graph."""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import partial

import numpy as np

from dlpy import functional as F
from dlpy import nn
from dlpy.random import get_rng
from dlpy.tensor import Op, Tensor, as_array, default_dtype

_BOX_FORMATS = ("xyxy", "xywh", "cxcywh")
_REDUCTIONS = ("none", "mean", "sum")


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _boxes(name: str, boxes) -> Tensor:
    boxes = _tensor(boxes)
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"{name}: expected boxes of shape (..., 4), got {tuple(boxes.shape)}")
    return boxes


def _format(name: str, fmt: str) -> str:
    if fmt not in _BOX_FORMATS:
        raise ValueError(f"{name}: fmt must be one of {', '.join(_BOX_FORMATS)}, got {fmt!r}")
    return fmt


def _reduce(name: str, loss: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.size else loss.sum() * 0.0
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{name}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


# ---------------------------------------------------------------------------------------------
# boxes


def box_convert(boxes, in_fmt: str, out_fmt: str) -> Tensor:
    """Boxes (..., 4) from ``in_fmt`` to ``out_fmt``, each "xyxy" (corners), "xywh" (top-left
    corner, width, height) or "cxcywh" (centre, width, height)."""
    boxes = _boxes("box_convert", boxes)
    _format("box_convert", in_fmt)
    _format("box_convert", out_fmt)
    if in_fmt == out_fmt:
        return boxes * 1
    a, b, c, d = (boxes[..., i] for i in range(4))
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return F.stack([a, b, c, d], -1)


def box_area(boxes, fmt: str = "xyxy") -> Tensor:
    """The areas (...) of boxes (..., 4)."""
    boxes = _boxes("box_area", boxes)
    if _format("box_area", fmt) == "xyxy":
        return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])
    return boxes[..., 2] * boxes[..., 3]


def _inter_union(name: str, boxes1, boxes2) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pairwise intersection and union (N, M) of xyxy boxes (N, 4) and (M, 4), and the boxes."""
    boxes1, boxes2 = _boxes(name, boxes1), _boxes(name, boxes2)
    left_top = F.maximum(boxes1[..., None, :2], boxes2[..., None, :, :2])
    right_bottom = F.minimum(boxes1[..., None, 2:], boxes2[..., None, :, 2:])
    wh = F.clamp(right_bottom - left_top, min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(boxes1)[..., None] + box_area(boxes2)[..., None, :] - inter
    return inter, union, boxes1, boxes2


def box_iou(boxes1, boxes2, fmt: str = "xyxy") -> Tensor:
    """Pairwise intersection over union (N, M) of boxes (N, 4) and (M, 4)."""
    if _format("box_iou", fmt) != "xyxy":
        boxes1, boxes2 = box_convert(boxes1, fmt, "xyxy"), box_convert(boxes2, fmt, "xyxy")
    inter, union, _, _ = _inter_union("box_iou", boxes1, boxes2)
    return inter / union


def _enclosing(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Width and height (N, M, 2) of the smallest box enclosing each pair."""
    left_top = F.minimum(boxes1[..., None, :2], boxes2[..., None, :, :2])
    right_bottom = F.maximum(boxes1[..., None, 2:], boxes2[..., None, :, 2:])
    return F.clamp(right_bottom - left_top, min=0)


def generalized_box_iou(boxes1, boxes2) -> Tensor:
    """GIoU (N, M): IoU - (C - union) / C, C the area of the enclosing box."""
    inter, union, boxes1, boxes2 = _inter_union("generalized_box_iou", boxes1, boxes2)
    wh = _enclosing(boxes1, boxes2)
    enclosing_area = wh[..., 0] * wh[..., 1]
    return inter / union - (enclosing_area - union) / enclosing_area


def _diou_iou(name: str, boxes1, boxes2, eps: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    inter, union, boxes1, boxes2 = _inter_union(name, boxes1, boxes2)
    iou = inter / union
    wh = _enclosing(boxes1, boxes2)
    diagonal_squared = wh[..., 0] ** 2 + wh[..., 1] ** 2 + eps
    centres1 = (boxes1[..., :2] + boxes1[..., 2:]) / 2  # (N, 2)
    centres2 = (boxes2[..., :2] + boxes2[..., 2:]) / 2
    delta = centres1[..., :, None, :] - centres2[..., None, :, :]  # (N, M, 2)
    centres_squared = delta[..., 0] ** 2 + delta[..., 1] ** 2
    return iou - centres_squared / diagonal_squared, iou, boxes1, boxes2


def distance_box_iou(boxes1, boxes2, eps: float = 1e-7) -> Tensor:
    """DIoU (N, M): IoU - d^2 / c^2, d the distance of the centres, c the enclosing box's
    diagonal."""
    return _diou_iou("distance_box_iou", boxes1, boxes2, eps)[0]


def _aspect_term(w1, h1, w2, h2) -> Tensor:
    """CIoU's v = 4 / pi^2 (atan(w2 / h2) - atan(w1 / h1))^2."""
    return (4 / math.pi ** 2) * (F.atan(w2 / h2) - F.atan(w1 / h1)) ** 2


def complete_box_iou(boxes1, boxes2, eps: float = 1e-7) -> Tensor:
    """CIoU (N, M): DIoU - alpha v, v the aspect-ratio term and alpha = v / (1 - IoU + v + eps)
    held constant (no gradient), as torchvision."""
    diou, iou, boxes1, boxes2 = _diou_iou("complete_box_iou", boxes1, boxes2, eps)
    v = _aspect_term(boxes1[..., None, 2] - boxes1[..., None, 0],
                     boxes1[..., None, 3] - boxes1[..., None, 1],
                     boxes2[..., None, :, 2] - boxes2[..., None, :, 0],
                     boxes2[..., None, :, 3] - boxes2[..., None, :, 1])
    alpha = Tensor(v.data / (1 - iou.data + v.data + eps))
    return diou - alpha * v


def clip_boxes_to_image(boxes, size: tuple[int, int]) -> Tensor:
    """xyxy boxes (..., 4) with x clamped to [0, width] and y to [0, height]; size (height,
    width)."""
    boxes = _boxes("clip_boxes_to_image", boxes)
    if len(size) != 2:
        raise ValueError(f"clip_boxes_to_image: size must be (height, width), got {size!r}")
    height, width = size
    limits = [width, height, width, height]
    return F.stack([F.clamp(boxes[..., i], min=0, max=limits[i]) for i in range(4)], -1)


def remove_small_boxes(boxes, min_size: float) -> Tensor:
    """Indices (int64) of the xyxy boxes (N, 4) whose sides are both at least min_size."""
    data = _boxes("remove_small_boxes", boxes).data
    keep = (data[..., 2] - data[..., 0] >= min_size) & (data[..., 3] - data[..., 1] >= min_size)
    return Tensor(np.nonzero(keep)[0].astype(np.int64))


def masks_to_boxes(masks) -> Tensor:
    """masks (N, H, W) -> (N, 4) xyxy boxes (float32) around each mask's nonzero pixels,
    inclusive pixel indices as torchvision; an empty mask gives [0, 0, 0, 0]."""
    data = as_array(masks)
    if data.size == 0:
        return Tensor(np.zeros((0, 4), dtype=np.float32))
    if data.ndim != 3:
        raise ValueError(f"masks_to_boxes: expected masks of shape (N, H, W), got {data.shape}")
    rows, cols = data.astype(bool).any(axis=2), data.astype(bool).any(axis=1)
    h, w = data.shape[1:]
    boxes = np.stack([cols.argmax(1), rows.argmax(1), (w - 1) - cols[:, ::-1].argmax(1),
                      (h - 1) - rows[:, ::-1].argmax(1)], axis=1).astype(np.float32)
    boxes[~rows.any(axis=1)] = 0.0
    return Tensor(boxes)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS on arrays: indices by decreasing score, dropping each box whose IoU with a kept
    higher-scoring box exceeds the threshold."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def _nms_inputs(name: str, boxes, scores) -> tuple[np.ndarray, np.ndarray]:
    boxes, scores = _boxes(name, boxes).data, _tensor(scores).data
    if boxes.ndim != 2 or scores.shape != boxes.shape[:1]:
        raise ValueError(f"{name}: expected boxes (N, 4) and scores (N,), got "
                         f"{boxes.shape} and {scores.shape}")
    return boxes, scores


def nms(boxes, scores, iou_threshold: float) -> Tensor:
    """Non-maximum suppression: the indices (int64) of the boxes (N, 4) kept, by decreasing
    score (N,); a box goes when its IoU with a kept box is above iou_threshold."""
    boxes, scores = _nms_inputs("nms", boxes, scores)
    return Tensor(_nms(boxes, scores, float(iou_threshold)))


def batched_nms(boxes, scores, idxs, iou_threshold: float) -> Tensor:
    """NMS within each category ``idxs`` (N,) separately: the kept indices (int64), by
    decreasing score."""
    boxes, scores = _nms_inputs("batched_nms", boxes, scores)
    idxs = _tensor(idxs).data
    if idxs.shape != scores.shape:
        raise ValueError(f"batched_nms: expected idxs of shape {scores.shape}, got {idxs.shape}")
    keep = [np.nonzero(idxs == c)[0][_nms(boxes[idxs == c], scores[idxs == c],
                                           float(iou_threshold))] for c in np.unique(idxs)]
    keep = np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)
    return Tensor(keep[np.argsort(-scores[keep], kind="stable")].astype(np.int64))


# ---------------------------------------------------------------------------------------------
# losses


def sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2,
                       reduction: str = "none") -> Tensor:
    """RetinaNet's focal loss: alpha_t (1 - p_t)^gamma BCE(inputs, targets), p = sigmoid(inputs);
    alpha -1 for no weighting."""
    if not 0 <= alpha <= 1 and alpha != -1:
        raise ValueError(f"sigmoid_focal_loss: alpha must be in [0, 1] or -1, got {alpha}")
    inputs, targets = _tensor(inputs), _tensor(targets)
    p = F.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce("sigmoid_focal_loss", loss, reduction)


def _loss_terms(name: str, boxes1, boxes2, eps: float):
    """Elementwise IoU of boxes1[i] and boxes2[i] (..., 4), the union, and the corners."""
    boxes1, boxes2 = _boxes(name, boxes1), _boxes(name, boxes2)
    x1, y1, x2, y2 = (boxes1[..., i] for i in range(4))
    x1g, y1g, x2g, y2g = (boxes2[..., i] for i in range(4))
    width, height = F.minimum(x2, x2g) - F.maximum(x1, x1g), \
        F.minimum(y2, y2g) - F.maximum(y1, y1g)
    overlap = (width.data > 0) & (height.data > 0)
    inter = F.where(Tensor(overlap), width * height, Tensor(np.zeros((), width.dtype)))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - inter
    iou = inter / (union + eps)
    enclosing = (F.maximum(x2, x2g) - F.minimum(x1, x1g), F.maximum(y2, y2g) - F.minimum(y1, y1g))
    return iou, union, enclosing, (x1, y1, x2, y2), (x1g, y1g, x2g, y2g)


def generalized_box_iou_loss(boxes1, boxes2, reduction: str = "none",
                             eps: float = 1e-7) -> Tensor:
    """1 - GIoU of matching boxes (..., 4)."""
    iou, union, (w, h), _, _ = _loss_terms("generalized_box_iou_loss", boxes1, boxes2, eps)
    area = w * h
    return _reduce("generalized_box_iou_loss", 1 - (iou - (area - union) / (area + eps)),
                   reduction)


def _diou_loss(name: str, boxes1, boxes2, eps: float):
    iou, _, (w, h), (x1, y1, x2, y2), (x1g, y1g, x2g, y2g) = _loss_terms(name, boxes1, boxes2,
                                                                         eps)
    centres_squared = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + \
        ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    loss = 1 - iou + centres_squared / (w ** 2 + h ** 2 + eps)
    return loss, iou, (x2 - x1, y2 - y1, x2g - x1g, y2g - y1g)


def distance_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> Tensor:
    """1 - DIoU of matching boxes (..., 4)."""
    loss = _diou_loss("distance_box_iou_loss", boxes1, boxes2, eps)[0]
    return _reduce("distance_box_iou_loss", loss, reduction)


def complete_box_iou_loss(boxes1, boxes2, reduction: str = "none", eps: float = 1e-7) -> Tensor:
    """1 - CIoU of matching boxes (..., 4); the IoU inside is torchvision's (eps 1e-7)."""
    loss, iou, sides = _diou_loss("complete_box_iou_loss", boxes1, boxes2, 1e-7)
    v = _aspect_term(*sides)
    alpha = Tensor(v.data / (1 - iou.data + v.data + eps))
    return _reduce("complete_box_iou_loss", loss + alpha * v, reduction)


# ---------------------------------------------------------------------------------------------
# RoI pooling


def _rois(name: str, boxes, batch: int) -> np.ndarray:
    """(K, 5) rows (batch index, x1, y1, x2, y2) from a (K, 5) array or a list of (L, 4), one
    per image."""
    if isinstance(boxes, (list, tuple)):
        parts = [_boxes(name, b).data.reshape(-1, 4) for b in boxes]
        rois = np.concatenate([np.concatenate([np.full((len(b), 1), i, b.dtype), b], 1)
                               for i, b in enumerate(parts)]) if parts else np.zeros((0, 5))
    else:
        rois = _tensor(boxes).data
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(f"{name}: expected boxes (K, 5) or a list of (L, 4), got shape "
                             f"{rois.shape}")
    index = rois[:, 0]
    if rois.size and (index.min() < 0 or index.max() >= batch):
        raise ValueError(f"{name}: batch indices must be in [0, {batch}), got "
                         f"{sorted(set(index.astype(int).tolist()))}")
    return rois


def _pair(name: str, value) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(int(v) < 1 for v in pair):
        raise ValueError(f"{name}: output_size must be a positive int or pair, got {value!r}")
    return int(pair[0]), int(pair[1])


def _bilinear_matrix(start: float, bin_size: float, grid: int, pooled: int,
                     size: int) -> np.ndarray:
    """(pooled, size): row p averages ``grid`` bilinear samples of bin p along one axis, as
    torchvision's kernel (samples below -1 or above size contribute 0, others are clamped)."""
    offsets = start + np.arange(pooled)[:, None] * bin_size + \
        (np.arange(grid)[None, :] + 0.5) * bin_size / grid  # (pooled, grid)
    valid = (offsets >= -1.0) & (offsets <= size)
    position = np.clip(offsets, 0, None)
    low = np.floor(position).astype(np.int64)
    at_end = low >= size - 1
    low = np.where(at_end, size - 1, low)
    high = np.where(at_end, size - 1, low + 1)
    position = np.where(at_end, low, position)
    frac = position - low
    matrix = np.zeros((pooled, size))
    rows = np.broadcast_to(np.arange(pooled)[:, None], offsets.shape)
    np.add.at(matrix, (rows, low), np.where(valid, 1 - frac, 0))
    np.add.at(matrix, (rows, high), np.where(valid, frac, 0))
    return matrix / grid


def _sampling_matrices(x1: float, y1: float, roi_w: float, roi_h: float, output_size,
                       sampling_ratio: int, height: int, width: int):
    """The (pooled_h, height) and (pooled_w, width) bilinear matrices of one RoI at (x1, y1) of
    roi_w x roi_h; sampling_ratio samples a bin per axis (<= 0: ceil(bin size), at least 1)."""
    pooled_h, pooled_w = output_size
    grid_h = sampling_ratio if sampling_ratio > 0 else max(math.ceil(roi_h / pooled_h), 1)
    grid_w = sampling_ratio if sampling_ratio > 0 else max(math.ceil(roi_w / pooled_w), 1)
    return (_bilinear_matrix(y1, roi_h / pooled_h, grid_h, pooled_h, height),
            _bilinear_matrix(x1, roi_w / pooled_w, grid_w, pooled_w, width))


class RoIAlignOp(Op):
    """RoI Align (Mask R-CNN): each RoI's bins average bilinear samples of its image, written
    as out[k] = Wy[k] @ x[b_k] @ Wx[k].T per channel; the gradient flows to x only."""

    def __init__(self, rois: np.ndarray, output_size, spatial_scale: float,
                 sampling_ratio: int, aligned: bool):
        self.rois, self.output_size = rois, output_size
        self.spatial_scale, self.sampling_ratio, self.aligned = \
            spatial_scale, sampling_ratio, aligned

    def _matrices(self, height: int, width: int):
        offset = 0.5 if self.aligned else 0.0
        for roi in self.rois:
            x1, y1, x2, y2 = (float(v) * self.spatial_scale - offset for v in roi[1:])
            roi_w, roi_h = x2 - x1, y2 - y1
            if not self.aligned:
                roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
            yield (int(roi[0]), *_sampling_matrices(x1, y1, roi_w, roi_h, self.output_size,
                                                    self.sampling_ratio, height, width))

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        out = np.zeros((len(self.rois), x.shape[1], *self.output_size), dtype=x.dtype)
        for k, (b, rows, cols) in enumerate(self._matrices(*x.shape[2:])):
            out[k] = rows @ x[b] @ cols.T
        return out

    def backward(self, grad_output):
        grad = np.zeros(self.x_shape, dtype=self.x_dtype)
        for k, (b, rows, cols) in enumerate(self._matrices(*self.x_shape[2:])):
            grad[b] += rows.T @ grad_output[k] @ cols
        return (grad,)


def _feature_map(name: str, input) -> Tensor:
    input = _tensor(input)
    if input.ndim != 4:
        raise ValueError(f"{name}: expected input (N, C, H, W), got shape {tuple(input.shape)}")
    return input


def roi_align(input, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = -1,
              aligned: bool = False) -> Tensor:
    """RoI Align: (K, C, *output_size) from input (N, C, H, W) and boxes (K, 5) rows (batch
    index, x1, y1, x2, y2) or a list of (L, 4), one per image; sampling_ratio <= 0 samples
    ceil(roi size / output size) points per bin; aligned shifts by half a pixel."""
    input = _feature_map("roi_align", input)
    rois = _rois("roi_align", boxes, input.shape[0])
    op = RoIAlignOp(rois, _pair("roi_align", output_size), float(spatial_scale),
                    int(sampling_ratio), bool(aligned))
    return op(input)


def _pool_bins(rois: np.ndarray, spatial_scale: float, output_size, height: int, width: int,
               end: int):
    """(k, b, i, j, h0, h1, w0, w1) of every non-empty bin [h0, h1) x [w0, w1) of RoI k (on
    image b), the RoI rounded to whole pixels (C's round: halves away from zero) and ``end``
    pixels added to its size (RoI Pool's 1, PS RoI Pool's 0, as torchvision's kernels)."""
    pooled_h, pooled_w = output_size
    for k, roi in enumerate(rois):
        x1, y1, x2, y2 = (int(np.sign(v) * np.floor(abs(v) + 0.5))
                          for v in roi[1:] * spatial_scale)
        bin_h, bin_w = max(y2 - y1 + end, 1) / pooled_h, max(x2 - x1 + end, 1) / pooled_w
        for i in range(pooled_h):
            h0 = min(max(math.floor(i * bin_h) + y1, 0), height)
            h1 = min(max(math.ceil((i + 1) * bin_h) + y1, 0), height)
            for j in range(pooled_w):
                w0 = min(max(math.floor(j * bin_w) + x1, 0), width)
                w1 = min(max(math.ceil((j + 1) * bin_w) + x1, 0), width)
                if h1 > h0 and w1 > w0:
                    yield k, int(roi[0]), i, j, h0, h1, w0, w1


class RoIPoolOp(Op):
    """RoI Pool (Fast R-CNN): the maximum over each bin of the RoI rounded to whole pixels (0 for
    an empty bin); the gradient goes to each maximum."""

    def __init__(self, rois: np.ndarray, output_size, spatial_scale: float):
        self.rois, self.output_size, self.spatial_scale = rois, output_size, spatial_scale

    def forward(self, x):
        width = x.shape[3]
        out = np.zeros((len(self.rois), x.shape[1], *self.output_size), dtype=x.dtype)
        self.argmax = np.full(out.shape, -1, dtype=np.int64)
        self.x_shape, self.x_dtype = x.shape, x.dtype
        images = x.reshape(x.shape[0], x.shape[1], -1)
        for k, b, ph, pw, h0, h1, w0, w1 in _pool_bins(self.rois, self.spatial_scale,
                                                       self.output_size, *x.shape[2:], 1):
            flat = (np.arange(h0, h1)[:, None] * width + np.arange(w0, w1)).ravel()
            best = np.argmax(images[b][:, flat], axis=1)  # the first maximum, as the kernel
            self.argmax[k, :, ph, pw] = flat[best]
            out[k, :, ph, pw] = images[b][np.arange(len(best)), flat[best]]
        return out

    def backward(self, grad_output):
        grad = np.zeros((self.x_shape[0], self.x_shape[1], self.x_shape[2] * self.x_shape[3]),
                        dtype=self.x_dtype)
        channels = np.arange(self.x_shape[1])[None, :, None, None]
        batch = self.rois[:, 0].astype(np.int64)[:, None, None, None]
        hit = self.argmax >= 0
        np.add.at(grad, (np.broadcast_to(batch, hit.shape)[hit],
                         np.broadcast_to(channels, hit.shape)[hit], self.argmax[hit]),
                  grad_output[hit])
        return (grad.reshape(self.x_shape),)


def roi_pool(input, boxes, output_size, spatial_scale: float = 1.0) -> Tensor:
    """RoI max pooling: (K, C, *output_size) from input (N, C, H, W) and boxes as roi_align."""
    input = _feature_map("roi_pool", input)
    rois = _rois("roi_pool", boxes, input.shape[0])
    return RoIPoolOp(rois, _pair("roi_pool", output_size), float(spatial_scale))(input)


def _position_sensitive(name: str, input, output_size) -> tuple[Tensor, tuple[int, int]]:
    input = _feature_map(name, input)
    pooled = _pair(name, output_size)
    if input.shape[1] % (pooled[0] * pooled[1]):
        raise ValueError(f"{name}: input channels must be a multiple of output_size[0] * "
                         f"output_size[1] = {pooled[0] * pooled[1]}, got {input.shape[1]}")
    return input, pooled


def _bin_channels(out, pooled) -> np.ndarray:
    """(C_out, ph, pw) channel indices: output channel c's bin (i, j) reads input channel
    (c * ph + i) * pw + j."""
    return np.arange(out * pooled[0] * pooled[1]).reshape(out, *pooled)


class PSRoIAlignOp(Op):
    """Position-sensitive RoI Align (R-FCN): bin (i, j) of output channel c averages bilinear
    samples of input channel (c * ph + i) * pw + j, with the RoI shifted by half a pixel (at
    least 0.1 wide); the gradient flows to x only."""

    def __init__(self, rois: np.ndarray, output_size, spatial_scale: float,
                 sampling_ratio: int):
        self.rois, self.output_size = rois, output_size
        self.spatial_scale, self.sampling_ratio = spatial_scale, sampling_ratio

    def _matrices(self, height: int, width: int):
        for roi in self.rois:
            x1, y1, x2, y2 = (float(v) * self.spatial_scale - 0.5 for v in roi[1:])
            roi_w, roi_h = max(x2 - x1, 0.1), max(y2 - y1, 0.1)
            yield (int(roi[0]), *_sampling_matrices(x1, y1, roi_w, roi_h, self.output_size,
                                                    self.sampling_ratio, height, width))

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        pooled_h, pooled_w = self.output_size
        self.channels = _bin_channels(x.shape[1] // (pooled_h * pooled_w), self.output_size)
        out = np.zeros((len(self.rois), *self.channels.shape), dtype=x.dtype)
        for k, (b, rows, cols) in enumerate(self._matrices(*x.shape[2:])):
            # bin (i, j) of channel c: rows[i] @ x[b, channel(c, i, j)] @ cols[j]
            out[k] = np.einsum("ih,cijhw,jw->cij", rows, x[b][self.channels], cols)
        return out

    def backward(self, grad_output):
        grad = np.zeros(self.x_shape, dtype=self.x_dtype)
        for k, (b, rows, cols) in enumerate(self._matrices(*self.x_shape[2:])):
            # the channels are distinct: a plain += is a scatter-add
            grad[b, self.channels] += np.einsum("ih,cij,jw->cijhw", rows, grad_output[k], cols)
        return (grad,)


def ps_roi_align(input, boxes, output_size, spatial_scale: float = 1.0,
                 sampling_ratio: int = -1) -> Tensor:
    """Position-sensitive RoI Align: (K, C / (ph pw), ph, pw) from input (N, C, H, W), boxes as
    roi_align."""
    input, pooled = _position_sensitive("ps_roi_align", input, output_size)
    rois = _rois("ps_roi_align", boxes, input.shape[0])
    return PSRoIAlignOp(rois, pooled, float(spatial_scale), int(sampling_ratio))(input)


class PSRoIPoolOp(Op):
    """Position-sensitive RoI Pool: bin (i, j) of output channel c is the mean of input channel
    (c * ph + i) * pw + j over the bin of the RoI rounded to whole pixels (0 when empty)."""

    def __init__(self, rois: np.ndarray, output_size, spatial_scale: float):
        self.rois, self.output_size, self.spatial_scale = rois, output_size, spatial_scale

    def _bins(self, height: int, width: int):
        return _pool_bins(self.rois, self.spatial_scale, self.output_size, height, width, 0)

    def forward(self, x):
        self.x_shape, self.x_dtype = x.shape, x.dtype
        pooled_h, pooled_w = self.output_size
        self.channels = _bin_channels(x.shape[1] // (pooled_h * pooled_w), self.output_size)
        out = np.zeros((len(self.rois), *self.channels.shape), dtype=x.dtype)
        for k, b, i, j, h0, h1, w0, w1 in self._bins(*x.shape[2:]):
            out[k, :, i, j] = x[b, self.channels[:, i, j], h0:h1, w0:w1].mean(axis=(1, 2))
        return out

    def backward(self, grad_output):
        grad = np.zeros(self.x_shape, dtype=self.x_dtype)
        for k, b, i, j, h0, h1, w0, w1 in self._bins(*self.x_shape[2:]):
            area = (h1 - h0) * (w1 - w0)
            grad[b, self.channels[:, i, j], h0:h1, w0:w1] += \
                grad_output[k, :, i, j, None, None] / area
        return (grad,)


def ps_roi_pool(input, boxes, output_size, spatial_scale: float = 1.0) -> Tensor:
    """Position-sensitive RoI average pooling: (K, C / (ph pw), ph, pw), boxes as roi_align."""
    input, pooled = _position_sensitive("ps_roi_pool", input, output_size)
    rois = _rois("ps_roi_pool", boxes, input.shape[0])
    return PSRoIPoolOp(rois, pooled, float(spatial_scale))(input)


class DeformConv2dOp(Op):
    """Deformable convolution v1/v2 (Dai et al. 2017, Zhu et al. 2018) as torchvision's kernel:
    tap (i, j) of output position (h, w) reads the input bilinearly at (h stride - pad + i
    dilation + dy, ...), the offsets (dy, dx) per offset group, tap and position (0 outside
    (-1, size); missing corners count 0), times the mask, then the columns meet the weight
    per weight group. Inputs: input, offset, weight[, bias][, mask]."""

    def __init__(self, stride, padding, dilation, kernel, has_bias: bool, has_mask: bool):
        self.stride, self.padding, self.dilation, self.kernel = stride, padding, dilation, kernel
        self.has_bias, self.has_mask = has_bias, has_mask

    def _sample(self, x, offset, kernel, out_size):
        """Corner indices, weights and validity of every sample: (N, G, K, P) each."""
        n, _, height, width = x.shape
        kh, kw = kernel
        groups = offset.shape[1] // (2 * kh * kw)
        ii, jj = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
        hh, ww = np.meshgrid(np.arange(out_size[0]), np.arange(out_size[1]), indexing="ij")
        base_y = (hh.ravel()[None] * self.stride[0] - self.padding[0]
                  + ii.ravel()[:, None] * self.dilation[0])  # (K, P)
        base_x = (ww.ravel()[None] * self.stride[1] - self.padding[1]
                  + jj.ravel()[:, None] * self.dilation[1])
        offset = offset.reshape(n, groups, kh * kw, 2, -1)
        y, x_pos = base_y + offset[:, :, :, 0], base_x + offset[:, :, :, 1]  # (N, G, K, P)
        inside = (y > -1) & (y < height) & (x_pos > -1) & (x_pos < width)
        y0, x0 = np.floor(y), np.floor(x_pos)
        ly, lx = y - y0, x_pos - x0
        corners = []
        for dy, wy, sy in ((0, 1 - ly, -1.0), (1, ly, 1.0)):
            for dx, wx, sx in ((0, 1 - lx, -1.0), (1, lx, 1.0)):
                yy, xx = y0 + dy, x0 + dx
                valid = inside & (yy >= 0) & (yy <= height - 1) & (xx >= 0) & (xx <= width - 1)
                index = (np.clip(yy, 0, height - 1) * width + np.clip(xx, 0, width - 1))
                # weight, d weight / dy, d weight / dx
                corners.append((index.astype(np.int64), valid, wy * wx, sy * wx, wy * sx))
        return groups, corners

    def forward(self, x, offset, weight, *rest):
        bias = rest[0] if self.has_bias else None
        n, channels, height, width = x.shape
        out_channels, _, kh, kw = weight.shape
        out_h, out_w = offset.shape[2:]
        groups, corners = self._sample(x, offset, (kh, kw), (out_h, out_w))
        mask = rest[-1].reshape(n, groups, kh * kw, -1) if self.has_mask else None
        flat = x.reshape(n, groups, channels // groups, 1, height * width)
        values = np.zeros((n, groups, channels // groups, kh * kw, out_h * out_w), x.dtype)
        gathered = []
        for index, valid, w, _, _ in corners:
            picked = np.take_along_axis(flat, index.reshape(n, groups, 1, 1, -1), axis=4)
            picked = picked.reshape(values.shape) * valid[:, :, None]
            gathered.append(picked)
            values += w[:, :, None] * picked
        columns = values * mask[:, :, None] if mask is not None else values
        weight_groups = channels // weight.shape[1]
        cols = columns.reshape(n, weight_groups, -1, out_h * out_w)  # (N, wg, C/wg K, P)
        w_mat = weight.reshape(weight_groups, out_channels // weight_groups, -1)
        out = np.einsum("gok,ngkp->ngop", w_mat, cols).reshape(n, out_channels, out_h, out_w)
        if bias is not None:
            out = out + bias[:, None, None]
        self.x_shape, self.corners, self.gathered, self.values = x.shape, corners, gathered, \
            values
        self.mask, self.cols, self.w_mat, self.offset_shape = mask, cols, w_mat, offset.shape
        return out

    def backward(self, grad_output):
        n, channels, height, width = self.x_shape
        weight_groups, per_group_out, _ = self.w_mat.shape
        grad = grad_output.reshape(n, weight_groups, per_group_out, -1)
        grad_weight = np.einsum("ngop,ngkp->gok", grad, self.cols)
        grad_columns = np.einsum("gok,ngop->ngkp", self.w_mat, grad).reshape(self.values.shape)
        grads = [None, None, grad_weight.reshape(-1, channels // weight_groups, *self.kernel)]
        if self.has_bias:
            grads.append(grad_output.sum(axis=(0, 2, 3)))
        if self.has_mask:
            grads.append((grad_columns * self.values).sum(axis=2).reshape(
                n, -1, *self.offset_shape[2:]))
            grad_values = grad_columns * self.mask[:, :, None]
        else:
            grad_values = grad_columns
        groups = self.values.shape[1]
        grad_x = np.zeros(n * channels * height * width, dtype=grad_output.dtype)
        plane = np.arange(n * channels).reshape(n, groups, -1, 1, 1) * (height * width)
        grad_y = np.zeros(self.values.shape[:2] + self.values.shape[3:], grad_output.dtype)
        grad_xpos = np.zeros_like(grad_y)
        for (index, valid, w, dw_dy, dw_dx), picked in zip(self.corners, self.gathered):
            contribution = grad_values * (w * valid)[:, :, None]
            grad_x += np.bincount((plane + index[:, :, None]).ravel(),
                                  contribution.ravel(), grad_x.size)
            weighted = (grad_values * picked).sum(axis=2)
            grad_y += weighted * dw_dy
            grad_xpos += weighted * dw_dx
        grad_offset = np.stack([grad_y, grad_xpos], axis=3).reshape(self.offset_shape)
        grads[0], grads[1] = grad_x.reshape(self.x_shape), grad_offset
        return tuple(grads)


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), mask=None) -> Tensor:
    """torchvision.ops.deform_conv2d: input (N, C, H, W), offset (N, 2 G kh kw, H_out,
    W_out) as (dy, dx) pairs per offset group G and tap, weight (C_out, C / groups, kh, kw),
    mask (N, G kh kw, H_out, W_out) or None -> (N, C_out, H_out, W_out); gradients for all."""
    name = "deform_conv2d"
    input, offset, weight = _tensor(input), _tensor(offset), _tensor(weight)
    stride, padding, dilation = (_ints2(name, v, what) for v, what in (
        (stride, "stride"), (padding, "padding"), (dilation, "dilation")))
    if input.ndim != 4 or weight.ndim != 4 or offset.ndim != 4:
        raise ValueError(f"{name}: expected 4D input, offset and weight, got shapes "
                         f"{tuple(input.shape)}, {tuple(offset.shape)}, {tuple(weight.shape)}")
    n, channels, height, width = input.shape
    kh, kw = weight.shape[2:]
    out_h = (height + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    out_w = (width + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    taps = kh * kw
    if channels % weight.shape[1] or weight.shape[0] % (channels // weight.shape[1]):
        raise ValueError(f"{name}: input channels {channels} and weight {tuple(weight.shape)} "
                         "do not make whole groups")
    if (offset.shape[0] != n or offset.shape[1] % (2 * taps) or channels % max(
            offset.shape[1] // (2 * taps), 1) or offset.shape[2:] != (out_h, out_w)):
        raise ValueError(f"{name}: expected offset ({n}, 2 * offset_groups * {taps}, {out_h}, "
                         f"{out_w}) with offset_groups dividing {channels}, got "
                         f"{tuple(offset.shape)}")
    inputs = [input, offset, weight]
    if bias is not None:
        inputs.append(_tensor(bias))
    if mask is not None:
        mask = _tensor(mask)
        if mask.shape != (n, offset.shape[1] // 2, out_h, out_w):
            raise ValueError(f"{name}: expected mask ({n}, {offset.shape[1] // 2}, {out_h}, "
                             f"{out_w}), got {tuple(mask.shape)}")
        inputs.append(mask)
    op = DeformConv2dOp(stride, padding, dilation, (kh, kw), bias is not None, mask is not None)
    return op(*inputs)


def _ints2(name: str, value, what: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name}: {what} must be an int or a pair, got {value!r}")
    return pair


class DeformConv2d(nn.Module):
    """torchvision.ops.DeformConv2d(in_channels, out_channels, kernel_size, stride, padding,
    dilation, groups, bias): forward(input, offset, mask=None); weight and bias initialised as
    torchvision (Kaiming-uniform a=sqrt(5), U(+-1/sqrt(fan_in)) bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, rng=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"DeformConv2d: in_channels {in_channels} and out_channels "
                             f"{out_channels} must be divisible by groups {groups}")
        name = "DeformConv2d"
        self.kernel_size = _ints2(name, kernel_size, "kernel_size")
        self.stride, self.padding, self.dilation = (_ints2(name, v, what) for v, what in (
            (stride, "stride"), (padding, "padding"), (dilation, "dilation")))
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        self.weight = nn.Parameter(np.zeros((out_channels, in_channels // groups,
                                             *self.kernel_size)), dtype=default_dtype())
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5), generator=rng)
        if bias:
            bound = 1.0 / math.sqrt(fan_in)
            self.bias = nn.Parameter(get_rng(rng).uniform(-bound, bound, out_channels),
                                     dtype=default_dtype())
        else:
            self.bias = None

    def forward(self, input, offset, mask=None):
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, mask)


class _RoILayer(nn.Module):
    """A RoI op as a layer: forward(input, boxes) is op(input, boxes, output_size,
    spatial_scale, *options())."""

    op = None

    def __init__(self, output_size, spatial_scale: float):
        super().__init__()
        self.output_size = _pair(type(self).__name__, output_size)
        self.spatial_scale = spatial_scale

    def options(self) -> tuple:
        return ()

    def forward(self, input, rois):
        return self.op(input, rois, self.output_size, self.spatial_scale, *self.options())


class RoIAlign(_RoILayer):
    """roi_align as a layer: forward(input, boxes)."""

    op = staticmethod(roi_align)

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int,
                 aligned: bool = False):
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio, self.aligned = sampling_ratio, aligned

    def options(self) -> tuple:
        return self.sampling_ratio, self.aligned


class RoIPool(_RoILayer):
    """roi_pool as a layer: forward(input, boxes)."""

    op = staticmethod(roi_pool)


class PSRoIAlign(_RoILayer):
    """ps_roi_align as a layer: forward(input, boxes)."""

    op = staticmethod(ps_roi_align)

    def __init__(self, output_size, spatial_scale: float, sampling_ratio: int):
        super().__init__(output_size, spatial_scale)
        self.sampling_ratio = sampling_ratio

    def options(self) -> tuple:
        return (self.sampling_ratio,)


class PSRoIPool(_RoILayer):
    """ps_roi_pool as a layer: forward(input, boxes)."""

    op = staticmethod(ps_roi_pool)


class MultiScaleRoIAlign(nn.Module):
    """torchvision.ops.MultiScaleRoIAlign(featmap_names, output_size, sampling_ratio, *,
    canonical_scale, canonical_level): RoI Align of each box on one FPN level, floor(
    canonical_level + log2(sqrt(area) / canonical_scale)) clamped to the levels there are; each
    level's scale is 2 ** round(log2(feature size / the largest image size)).
    forward(x: dict of (N, C, H, W), boxes: list of (L, 4) per image, image_shapes: list of
    (H, W)) -> (sum L, C, *output_size), rows in the order of the boxes."""

    def __init__(self, featmap_names: list[str], output_size, sampling_ratio: int, *,
                 canonical_scale: int = 224, canonical_level: int = 4):
        super().__init__()
        if not featmap_names:
            raise ValueError(f"MultiScaleRoIAlign: featmap_names must name at least one "
                             f"feature map, got {featmap_names!r}")
        self.featmap_names = list(featmap_names)
        self.output_size = _pair("MultiScaleRoIAlign", output_size)
        self.sampling_ratio = int(sampling_ratio)
        self.canonical_scale, self.canonical_level = canonical_scale, canonical_level

    def _scales(self, features, image_shapes) -> list[float]:
        if not image_shapes:
            raise ValueError("MultiScaleRoIAlign: image_shapes must not be empty")
        largest = (max(s[0] for s in image_shapes), max(s[1] for s in image_shapes))
        # torchvision rounds log2 of the float32 ratio along the first axis
        return [float(2.0 ** np.round(np.log2(np.float32(f.shape[-2] / largest[0]))))
                for f in features]

    def forward(self, x: dict, boxes: list, image_shapes: list) -> Tensor:
        missing = [name for name in self.featmap_names if name not in x]
        if missing:
            raise ValueError(f"MultiScaleRoIAlign: feature maps {missing} missing from x "
                             f"({list(x)})")
        features = [_feature_map("MultiScaleRoIAlign", x[name]) for name in self.featmap_names]
        scales = self._scales(features, image_shapes)
        rois = _rois("MultiScaleRoIAlign", boxes, features[0].shape[0])
        align = partial(roi_align, output_size=self.output_size,
                        sampling_ratio=self.sampling_ratio)
        if len(features) == 1:
            return align(features[0], rois, spatial_scale=scales[0])
        k_min = int(-np.log2(np.float32(scales[0])))
        k_max = int(-np.log2(np.float32(scales[-1])))
        side = np.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        levels = np.floor(self.canonical_level + np.log2(side / self.canonical_scale) + 1e-6)
        levels = np.clip(levels, k_min, k_max).astype(np.int64) - k_min
        parts, order = [], []
        for level, (feature, scale) in enumerate(zip(features, scales)):
            index = np.flatnonzero(levels == level)
            if index.size:
                parts.append(align(feature, rois[index], spatial_scale=scale))
                order.append(index)
        if not parts:
            return Tensor(np.zeros((0, features[0].shape[1], *self.output_size),
                                   dtype=features[0].dtype))
        inverse = np.argsort(np.concatenate(order), kind="stable")
        return F.concat(parts, axis=0)[inverse]

    def extra_repr(self) -> str:
        return (f"featmap_names={self.featmap_names}, output_size={self.output_size}, "
                f"sampling_ratio={self.sampling_ratio}")


# ---------------------------------------------------------------------------------------------
# regularisation


def _probability(name: str, p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: drop probability must be in [0, 1], got {p}")
    return float(p)


def stochastic_depth(input, p: float, mode: str, training: bool = True, rng=None) -> Tensor:
    """Zero whole samples ("row") or the whole input ("batch") with probability p while
    training, scaling what stays by 1 / (1 - p)."""
    p = _probability("stochastic_depth", p)
    if mode not in ("batch", "row"):
        raise ValueError(f"stochastic_depth: mode must be 'batch' or 'row', got {mode!r}")
    input = _tensor(input)
    if not training or p == 0.0:
        return input
    survival = 1.0 - p
    size = (input.shape[0],) + (1,) * (input.ndim - 1) if mode == "row" else (1,) * input.ndim
    noise = (get_rng(rng).random(size) < survival).astype(input.dtype)
    if survival > 0.0:
        noise /= survival
    return input * Tensor(noise)


class StochasticDepth(nn.Module):
    """stochastic_depth as a layer (identity in eval mode)."""

    def __init__(self, p: float, mode: str, rng=None):
        super().__init__()
        self.p, self.mode, self.rng = _probability("StochasticDepth", p), mode, rng

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


def _drop_block(name: str, input, p: float, block_size: int, eps: float, training: bool,
                rng, spatial: int) -> Tensor:
    """DropBlock over the last ``spatial`` axes of x (N, C, *spatial)."""
    p = _probability(name, p)
    input = _tensor(input)
    if input.ndim != 2 + spatial:
        raise ValueError(f"{name}: expected a {2 + spatial}D input, got shape "
                         f"{tuple(input.shape)}")
    if not training or p == 0.0:
        return input
    sizes = input.shape[2:]
    block_size = min(block_size, *sizes)
    if block_size % 2 == 0:
        raise ValueError(f"{name}: block_size must be odd, got {block_size}")
    valid = [size - block_size + 1 for size in sizes]
    gamma = p * math.prod(sizes) / (block_size ** spatial * math.prod(valid))
    centres = get_rng(rng).random((*input.shape[:2], *valid)) < gamma
    half = block_size // 2
    padded = np.pad(centres, ((0, 0), (0, 0)) + ((2 * half, 2 * half),) * spatial)
    axes = tuple(range(2, 2 + spatial))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (block_size,) * spatial, axes)
    noise = 1.0 - windows.max(axis=tuple(range(-spatial, 0))).astype(input.dtype)
    return input * Tensor(noise * (noise.size / (eps + noise.sum())))


def drop_block2d(input, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6,
                 training: bool = True, rng=None) -> Tensor:
    """DropBlock (Ghiasi et al. 2018): zero block_size x block_size squares around centres drawn
    with probability gamma, then rescale by numel / (eps + kept count). x (N, C, H, W)."""
    return _drop_block("drop_block2d", input, p, block_size, eps, training, rng, 2)


def drop_block3d(input, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6,
                 training: bool = True, rng=None) -> Tensor:
    """drop_block2d with cubes: x (N, C, D, H, W)."""
    return _drop_block("drop_block3d", input, p, block_size, eps, training, rng, 3)


class DropBlock2d(nn.Module):
    """drop_block2d as a layer (identity in eval mode)."""

    def __init__(self, p: float, block_size: int, inplace: bool = False, eps: float = 1e-6,
                 rng=None):
        super().__init__()
        self.p, self.block_size = _probability("DropBlock2d", p), block_size
        self.inplace, self.eps, self.rng = inplace, eps, rng

    def forward(self, input):
        return drop_block2d(input, self.p, self.block_size, self.inplace, self.eps, self.training,
                            self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}"


class DropBlock3d(DropBlock2d):
    """drop_block3d as a layer (identity in eval mode)."""

    def forward(self, input):
        return drop_block3d(input, self.p, self.block_size, self.inplace, self.eps, self.training,
                            self.rng)


# ---------------------------------------------------------------------------------------------
# layers


class Conv2dNormActivation(nn.Sequential):
    """Conv2d, a norm layer (``norm_layer(out_channels)``, None for none) and an activation
    (``activation_layer()``, None for none) as children 0, 1, 2; padding None is "same" for odd
    kernels ((k - 1) // 2 * dilation); the convolution has a bias only without a norm layer
    unless ``bias`` says."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1,
                 padding=None, groups: int = 1, norm_layer=nn.BatchNorm2d,
                 activation_layer=nn.ReLU, dilation=1, inplace: bool | None = True,
                 bias: bool | None = None, rng=None):
        if padding is None:
            kernels = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
            dilations = (dilation,) * 2 if isinstance(dilation, int) else tuple(dilation)
            padding = tuple((k - 1) // 2 * d for k, d in zip(kernels, dilations))
        layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                            padding=padding, dilation=dilation, groups=groups,
                            bias=norm_layer is None if bias is None else bias, rng=rng)]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if activation_layer is not None:
            layers.append(activation_layer())
        super().__init__(*layers)
        self.out_channels = out_channels


class SqueezeExcitation(nn.Module):
    """x * scale_activation(fc2(activation(fc1(mean over H, W of x)))), fc1 and fc2 1x1
    convolutions (input_channels -> squeeze_channels -> input_channels)."""

    def __init__(self, input_channels: int, squeeze_channels: int, activation=nn.ReLU,
                 scale_activation=nn.Sigmoid, rng=None):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1, rng=rng)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1, rng=rng)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, input):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(input))))
        return self.scale_activation(scale) * input


class MLP(nn.Sequential):
    """Linear (+ norm) + activation + Dropout per hidden size, then Linear + Dropout; children
    numbered as torchvision's."""

    def __init__(self, in_channels: int, hidden_channels: list[int], norm_layer=None,
                 activation_layer=nn.ReLU, inplace: bool | None = None, bias: bool = True,
                 dropout: float = 0.0, rng=None):
        if not hidden_channels:
            raise ValueError("MLP: hidden_channels must be a non-empty list of sizes, got "
                             f"{hidden_channels!r}")
        layers, in_dim = [], in_channels
        for hidden_dim in hidden_channels[:-1]:
            layers.append(nn.Linear(in_dim, hidden_dim, bias=bias, rng=rng))
            if norm_layer is not None:
                layers.append(norm_layer(hidden_dim))
            layers += [activation_layer(), nn.Dropout(dropout, rng=rng)]
            in_dim = hidden_dim
        layers += [nn.Linear(in_dim, hidden_channels[-1], bias=bias, rng=rng),
                   nn.Dropout(dropout, rng=rng)]
        super().__init__(*layers)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters, all four buffers (weight,
    bias, running_mean, running_var; no num_batches_tracked, which loading drops): x * scale +
    shift with scale = weight / sqrt(running_var + eps), the same in training and eval mode."""

    def __init__(self, num_features: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        dtype = default_dtype()
        self.register_buffer("weight", Tensor(np.ones(num_features, dtype)))
        self.register_buffer("bias", Tensor(np.zeros(num_features, dtype)))
        self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
        self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def forward(self, x):
        w, b = self.weight.reshape(1, -1, 1, 1), self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + self.eps).rsqrt()
        return x * scale + (b - rm * scale)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.weight.shape[0]}, eps={self.eps})"


class Permute(nn.Module):
    """x.permute(dims) as a layer."""

    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x):
        return F.permute(x, self.dims)


class FeaturePyramidNetwork(nn.Module):
    """FPN (Lin et al. 2017) over an OrderedDict of feature maps (finest first): 1x1 lateral
    convolutions to out_channels, top-down nearest upsampling added in, a 3x3 convolution on
    each; returns an OrderedDict with the same keys. Module names as torchvision
    (inner_blocks.<i>.0, layer_blocks.<i>.0); extra_blocks is not supported."""

    def __init__(self, in_channels_list: list[int], out_channels: int, extra_blocks=None,
                 norm_layer=None, rng=None):
        super().__init__()
        if extra_blocks is not None:
            raise ValueError("FeaturePyramidNetwork: extra_blocks is not supported, got "
                             f"{extra_blocks!r}")
        if not in_channels_list or any(c <= 0 for c in in_channels_list):
            raise ValueError("FeaturePyramidNetwork: in_channels_list must be positive channel "
                             f"counts, got {in_channels_list!r}")
        self.inner_blocks = nn.ModuleList([
            Conv2dNormActivation(c, out_channels, 1, padding=0, norm_layer=norm_layer,
                                 activation_layer=None, rng=rng) for c in in_channels_list])
        self.layer_blocks = nn.ModuleList([
            Conv2dNormActivation(out_channels, out_channels, 3, norm_layer=norm_layer,
                                 activation_layer=None, rng=rng) for _ in in_channels_list])
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_uniform_(module.weight, a=1, generator=rng)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: OrderedDict) -> OrderedDict:
        names, features = list(x.keys()), list(x.values())
        if len(features) != len(self.inner_blocks):
            raise ValueError(f"FeaturePyramidNetwork: expected {len(self.inner_blocks)} feature "
                             f"maps, got {len(features)}")
        last_inner = self.inner_blocks[-1](features[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for i in range(len(features) - 2, -1, -1):
            lateral = self.inner_blocks[i](features[i])
            top_down = F.interpolate(last_inner, size=tuple(lateral.shape[-2:]), mode="nearest")
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[i](last_inner))
        return OrderedDict(zip(names, results))


__all__ = [
    "MLP", "Conv2dNormActivation", "DeformConv2d", "DropBlock2d", "DropBlock3d",
    "FeaturePyramidNetwork", "FrozenBatchNorm2d", "MultiScaleRoIAlign", "PSRoIAlign",
    "PSRoIPool", "Permute",
    "RoIAlign", "RoIPool", "SqueezeExcitation", "StochasticDepth", "batched_nms", "box_area",
    "box_convert", "box_iou", "clip_boxes_to_image", "complete_box_iou",
    "complete_box_iou_loss", "deform_conv2d", "distance_box_iou", "distance_box_iou_loss",
    "drop_block2d", "drop_block3d", "generalized_box_iou", "generalized_box_iou_loss",
    "masks_to_boxes", "nms", "ps_roi_align", "ps_roi_pool", "remove_small_boxes", "roi_align",
    "roi_pool", "sigmoid_focal_loss", "stochastic_depth",
]

# torchvision.ops.misc (``from torchvision.ops.misc import FrozenBatchNorm2d``): the layers
# above, registered as the submodule dlpy.vision.ops.misc while this file stays a module
import sys as _sys  # noqa: E402

misc = type(_sys)(f"{__name__}.misc", "torchvision.ops.misc: the building-block layers, as "
                  "dlpy.vision.ops'.")
misc.__all__ = ["Conv2dNormActivation", "FrozenBatchNorm2d", "MLP", "Permute",
                "SqueezeExcitation"]
for _name in misc.__all__:
    setattr(misc, _name, globals()[_name])
_sys.modules[misc.__name__] = misc
