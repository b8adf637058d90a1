"""``torch.utils.tensorboard.SummaryWriter`` for dlpy: scalars, histograms, images, text,
hyperparameters, embeddings, PR curves, custom-scalar layouts and the model's graph, written as
TensorBoard event files (TFRecords of ``Event`` protos).

The protos, the record writer (with its CRC) and the summaries that torch builds the same way come
from ``tensorboardX``; the methods follow torch's writer argument for argument. Values may be dlpy
Tensors, numpy arrays or Python numbers. Needs ``pip install dlpy[tensorboard]``.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import time
from datetime import datetime

import numpy as np

try:
    from tensorboardX import summary as _summary
    from tensorboardX.embedding import make_mat, make_tsv
    from tensorboardX.proto import api_pb2, plugin_hparams_pb2
    from tensorboardX.proto.attr_value_pb2 import AttrValue
    from tensorboardX.proto.event_pb2 import Event, SessionLog
    from tensorboardX.proto.graph_pb2 import GraphDef
    from tensorboardX.proto.node_def_pb2 import NodeDef
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboardX.proto.versions_pb2 import VersionDef
    from tensorboardX.utils import convert_to_HWC, figure_to_image, make_grid
    from tensorboardX.writer import FileWriter
except ImportError as error:
    raise ImportError(
        "dlpy.utils.tensorboard needs the tensorboardX package, which is not installed: "
        "pip install dlpy[tensorboard] (or pip install tensorboardX)") from error

from dlpy.tensor import Tensor

__all__ = ["SummaryWriter"]

_file_ids = itertools.count()


def _file_writer(log_dir: str, max_queue: int, flush_secs: int, suffix: str) -> FileWriter:
    """tensorboardX's writer, its file named as torch's: events.out.tfevents.<time>.<host>
    .<pid>.<n><suffix> (tensorboardX's own name has no pid and count, so a second file in the
    same second would overwrite the first)."""
    unique = f".{os.getpid()}.{next(_file_ids)}{suffix}"
    writer = FileWriter(log_dir, max_queue, flush_secs, unique)
    _write_in_order(writer.event_writer, flush_secs)
    return writer


def _write_in_order(events, flush_secs: float) -> None:
    """Write each event at once instead of through tensorboardX's queue, whose flush() does not
    wait for the events still queued (torch's does): so flush() and close() leave every event
    added before them in the file. The file is flushed every flush_secs seconds, as torch's."""
    next_flush = [time.monotonic() + flush_secs]

    def add_event(event):
        if events._closed:
            return
        events._ev_writer.write_event(event)
        if time.monotonic() >= next_flush[0]:
            events._ev_writer.flush()
            next_flush[0] = time.monotonic() + flush_secs

    events.add_event = add_event


def _numpy(value, name: str) -> np.ndarray:
    """A dlpy Tensor, numpy array, Python number or list as a numpy array."""
    if isinstance(value, Tensor):
        return np.asarray(value.data)
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float, np.number, bool, np.bool_, list, tuple)):
        return np.asarray(value)
    raise TypeError(f"{name}: expected a dlpy Tensor, a numpy array or a number, got "
                    f"{type(value).__name__}")


def _scalar_summary(function: str, tag: str, value, new_style=False, double_precision=False):
    array = _numpy(value, function).squeeze()
    if array.ndim != 0:
        raise ValueError(f"{function}: {tag!r} must hold one value, got shape "
                         f"{_numpy(value, function).shape}")
    number = float(array)
    if not new_style:
        return Summary(value=[Summary.Value(tag=tag, simple_value=number)])
    tensor = TensorProto(double_val=[number], dtype="DT_DOUBLE") if double_precision \
        else TensorProto(float_val=[number], dtype="DT_FLOAT")
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="scalars"))
    return Summary(value=[Summary.Value(tag=tag, tensor=tensor, metadata=metadata)])


def _image_summary(function: str, tag: str, image, dataformats: str):
    """torch's image(): to HWC (a batch tiled in a grid), floats in [0, 1] scaled by 255 and
    clipped, uint8 as given, encoded as PNG."""
    array = _numpy(image, function)
    if not isinstance(dataformats, str) or len(set(dataformats.upper())) != len(dataformats) \
            or set(dataformats.upper()) - set("NCHW") or len(dataformats) != array.ndim:
        raise ValueError(f"{function}: dataformats {dataformats!r} does not describe an image of "
                         f"shape {array.shape} (letters from N, C, H, W, each once, one per axis)")
    hwc = convert_to_HWC(array, dataformats)
    scale = 1 if hwc.dtype == np.uint8 else 255
    hwc = (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
    return Summary(value=[Summary.Value(tag=tag, image=_summary.make_image(hwc))])


def _hparams_summaries(hparam_dict: dict, metric_dict: dict, domains: dict | None):
    """The hparams plugin's experiment, session-start and session-end summaries, as torch's
    hparams() (which tests int/float first, so a bool is logged as a number)."""
    from google.protobuf import struct_pb2

    domains = domains or {}
    if not isinstance(domains, dict):
        raise TypeError(f"add_hparams: hparam_domain_discrete must be a dict, got "
                        f"{type(domains).__name__}")
    for key, values in domains.items():
        if key not in hparam_dict or not isinstance(values, list) \
                or not all(isinstance(d, type(hparam_dict[key])) for d in values):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{key!r}] must be a list of "
                            f"values of the type of hparam_dict[{key!r}], got {values!r}")
    data_type = api_pb2.DataType.Value
    infos = []
    start = plugin_hparams_pb2.SessionStartInfo()
    for key, value in hparam_dict.items():
        if value is None:
            continue
        if isinstance(value, Tensor):
            value = float(np.asarray(value.data).reshape(-1)[0])
        if isinstance(value, (int, float, np.number)):
            start.hparams[key].number_value = value
            kind, field = "DATA_TYPE_FLOAT64", "number_value"
        elif isinstance(value, str):
            start.hparams[key].string_value = value
            kind, field = "DATA_TYPE_STRING", "string_value"
        else:
            raise ValueError(f"add_hparams: hparam_dict[{key!r}] must be an int, float, str, bool "
                             f"or a one-value Tensor, got {type(value).__name__}")
        domain = None
        if key in domains:
            domain = struct_pb2.ListValue(
                values=[struct_pb2.Value(**{field: d}) for d in domains[key]])
        infos.append(api_pb2.HParamInfo(name=key, type=data_type(kind), domain_discrete=domain))

    def plugin_summary(tag: str, **content):
        data = plugin_hparams_pb2.HParamsPluginData(version=0, **content)
        metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name="hparams", content=data.SerializeToString()))
        return Summary(value=[Summary.Value(tag=tag, metadata=metadata)])

    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict]
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=metrics)
    end = plugin_hparams_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (plugin_summary("_hparams_/experiment", experiment=experiment),
            plugin_summary("_hparams_/session_start_info", session_start_info=start),
            plugin_summary("_hparams_/session_end_info", session_end_info=end))


def _sprite(label_img: np.ndarray, path: str) -> None:
    """torch's sprite: the images in a square grid (ceil(sqrt N) a row), padded to a square."""
    from PIL import Image

    per_row = math.ceil(label_img.shape[0] ** 0.5)
    grid = make_grid(label_img, ncols=per_row).transpose(1, 2, 0)  # (H, W, C)
    square = np.zeros((grid.shape[1], grid.shape[1], 3))
    square[:grid.shape[0]] = grid[..., :3]
    Image.fromarray(np.uint8((square * 255).clip(0, 255))).save(path, format="PNG")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _graph_def(model, input_to_model) -> GraphDef:
    """The model traced once through dlpy's recorded graph (the ONNX exporter's trace, in eval
    mode): IO nodes for the inputs and outputs, a node per parameter, constant and op, each op
    under the scope of the module whose parameter it takes, with its output shape."""
    from dlpy.onnx import _eval_mode, _Trace

    args = input_to_model if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
    if input_to_model is None:
        args = ()
    with _eval_mode(model):
        trace = _Trace(model, tuple(args))
    params = dict(model.named_parameters()) if hasattr(model, "named_parameters") else {}
    param_names = {id(p): name.replace(".", "/") for name, p in params.items()}
    names: dict[int, str] = {}
    nodes = []
    counts: dict[str, int] = {}

    def add(name: str, op: str, inputs: list[str], t: Tensor | None, attr: str = "") -> str:
        shape = TensorShapeProto(dim=[TensorShapeProto.Dim(size=n) for n in t.shape]) \
            if t is not None else None
        attributes = {"attr": AttrValue(s=attr.encode())}
        if shape is not None:
            attributes["_output_shapes"] = AttrValue(list=AttrValue.ListValue(shape=[shape]))
        nodes.append(NodeDef(name=name, op=op, input=inputs, attr=attributes))
        return name

    def numbered(base: str) -> str:
        counts[base] = counts.get(base, 0) + 1
        return base if counts[base] == 1 else f"{base}_{counts[base] - 1}"

    for k, t in enumerate(trace.inputs):
        names[id(t)] = add(f"input/input_{k}", "IO Node", [], t, f"dtype={t.dtype}")
    for t in trace.order:
        if id(t) in names:
            continue
        if t.op is None:
            scoped = param_names.get(id(t))
            names[id(t)] = add(scoped, "Parameter", [], t, f"dtype={t.dtype}") if scoped \
                else add(numbered("Constant"), "Constant", [], t, f"dtype={t.dtype}")
            continue
        kind = type(t.op).__name__
        scope = next((param_names[id(i)].rpartition("/")[0] for i in t.op.inputs
                      if id(i) in param_names), "")
        name = numbered(f"{scope}/{kind}" if scope else kind)
        names[id(t)] = add(name, kind, [names[id(i)] for i in t.op.inputs], t,
                           f"dtype={t.dtype}")
    for k, t in enumerate(trace.outputs):
        add(f"output/output_{k}", "IO Node", [names[id(t)]], t, f"dtype={t.dtype}")
    return GraphDef(node=nodes, versions=VersionDef(producer=22))


class SummaryWriter:
    """Writes events for TensorBoard into ``log_dir`` (default ``runs/<date>_<host><comment>``),
    as ``torch.utils.tensorboard.SummaryWriter``; a context manager that closes on exit."""

    def __init__(self, log_dir=None, comment: str = "", purge_step: int | None = None,
                 max_queue: int = 10, flush_secs: int = 120, filename_suffix: str = ""):
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        self.log_dir = str(log_dir)
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        # the default histogram bins ('tensorflow'): +-1e-12 growing by 1.1 up to 1e20, and 0
        v, buckets = 1e-12, []
        while v < 1e20:
            buckets.append(v)
            v *= 1.1
        self.default_bins = [-b for b in buckets[::-1]] + [0] + buckets

    def _get_file_writer(self) -> FileWriter:
        """The writer of log_dir, made again after close()."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = _file_writer(self.log_dir, self.max_queue, self.flush_secs,
                                            self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                self.file_writer.add_event(Event(step=self.purge_step,
                                                 file_version="brain.Event:2"))
                self.file_writer.add_event(Event(step=self.purge_step, session_log=SessionLog(
                    status=SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self) -> str:
        return self.log_dir

    # scalars
    def add_scalar(self, tag: str, scalar_value, global_step=None, walltime=None,
                   new_style: bool = False, double_precision: bool = False) -> None:
        """One value; ``new_style`` stores it as a tensor (float32, or float64 with
        ``double_precision``) instead of ``simple_value``."""
        summary = _scalar_summary("add_scalar", tag, scalar_value, new_style, double_precision)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_scalars(self, main_tag: str, tag_scalar_dict: dict, global_step=None,
                    walltime=None) -> None:
        """Several values on one chart: each key goes to its own run
        ``<log_dir>/<main_tag>_<key>`` under the tag main_tag."""
        walltime = time.time() if walltime is None else walltime
        log_dir = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            run = log_dir + "/" + main_tag.replace("/", "_") + "_" + tag
            writer = self.all_writers.get(run)
            if writer is None:
                writer = _file_writer(run, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[run] = writer
            writer.add_summary(_scalar_summary("add_scalars", main_tag, value), global_step,
                               walltime)

    # histograms
    def add_histogram(self, tag: str, values, global_step=None, bins="tensorflow",
                      walltime=None, max_bins=None) -> None:
        """A histogram of values; bins as numpy.histogram's, or 'tensorflow' (the default
        exponential bins)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        array = _numpy(values, "add_histogram").astype(float)
        if array.size == 0:
            raise ValueError(f"add_histogram: {tag!r} has no values")
        histogram = _summary.make_histogram(array, bins, max_bins)
        self._get_file_writer().add_summary(
            Summary(value=[Summary.Value(tag=tag, histo=histogram)]), global_step, walltime)

    def add_histogram_raw(self, tag: str, min, max, num, sum, sum_squares, bucket_limits,
                          bucket_counts, global_step=None, walltime=None) -> None:
        """A histogram from its statistics; bucket_limits are the upper edges, one a bucket."""
        limits = _numpy(bucket_limits, "add_histogram_raw").reshape(-1).tolist()
        counts = _numpy(bucket_counts, "add_histogram_raw").reshape(-1).tolist()
        if len(limits) != len(counts):
            raise ValueError(f"add_histogram_raw: bucket_limits and bucket_counts must have one "
                             f"entry a bucket, got {len(limits)} and {len(counts)}")
        summary = _summary.histogram_raw(tag, min, max, num, sum, sum_squares, limits, counts)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    # images
    def add_image(self, tag: str, img_tensor, global_step=None, walltime=None,
                  dataformats: str = "CHW") -> None:
        """One image (CHW, HWC, HW...): floats in [0, 1] or uint8 in [0, 255]."""
        summary = _image_summary("add_image", tag, img_tensor, dataformats)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_images(self, tag: str, img_tensor, global_step=None, walltime=None,
                   dataformats: str = "NCHW") -> None:
        """A batch of images, tiled in a grid of 8 a row."""
        summary = _image_summary("add_images", tag, img_tensor, dataformats)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_figure(self, tag: str, figure, global_step=None, close: bool = True,
                   walltime=None) -> None:
        """A matplotlib figure (or a list of them) rendered as an image."""
        images = figure_to_image(figure, close)
        self.add_image(tag, images, global_step, walltime,
                       dataformats="NCHW" if isinstance(figure, list) else "CHW")

    # text, hyperparameters
    def add_text(self, tag: str, text_string: str, global_step=None, walltime=None) -> None:
        """Markdown text, shown under ``<tag>/text_summary``."""
        if not isinstance(text_string, str):
            raise TypeError(f"add_text: text_string must be a str, got "
                            f"{type(text_string).__name__}")
        self._get_file_writer().add_summary(_summary.text(tag, text_string), global_step,
                                            walltime)

    def add_hparams(self, hparam_dict: dict, metric_dict: dict, hparam_domain_discrete=None,
                    run_name: str | None = None, global_step=None) -> None:
        """One hyperparameter session in the run ``<log_dir>/<run_name>`` (default the time),
        with the metrics logged there as scalars."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError(f"add_hparams: hparam_dict and metric_dict must be dicts, got "
                            f"{type(hparam_dict).__name__} and {type(metric_dict).__name__}")
        summaries = _hparams_summaries(hparam_dict, metric_dict, hparam_domain_discrete)
        run_name = run_name or str(time.time())
        with SummaryWriter(os.path.join(self._get_file_writer().get_logdir(), run_name)) as run:
            for summary in summaries:
                run.file_writer.add_summary(summary, global_step)
            for key, value in metric_dict.items():
                run.add_scalar(key, value, global_step)

    # embeddings, PR curves, layouts
    @staticmethod
    def _encode(raw: str) -> str:
        return raw.replace("%", "%25").replace("/", "%2f").replace("\\", "%5c")

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None,
                      tag: str = "default", metadata_header=None) -> None:
        """Points for the projector: ``<log_dir>/<step:05d>/<tag>/`` gets tensors.tsv (mat,
        (N, D)), metadata.tsv (one label a point) and sprite.png (label_img, (N, C, H, W)),
        and ``projector_config.pbtxt`` lists every embedding added."""
        mat = _numpy(mat, "add_embedding")
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat must be (points, features), got shape "
                             f"{mat.shape}")
        global_step = 0 if global_step is None else global_step
        subdir = f"{str(global_step).zfill(5)}/{self._encode(tag)}"
        save_path = os.path.join(self._get_file_writer().get_logdir(), subdir)
        if os.path.isfile(save_path):
            raise NotADirectoryError(f"add_embedding: {save_path} exists and is a file")
        os.makedirs(save_path, exist_ok=True)
        if metadata is not None:
            if len(metadata) != mat.shape[0]:
                raise ValueError(f"add_embedding: {len(metadata)} metadata labels for "
                                 f"{mat.shape[0]} points")
            if metadata_header and any(len(row) != len(metadata_header) for row in metadata):
                raise ValueError(f"add_embedding: every metadata row must have the "
                                 f"{len(metadata_header)} columns of metadata_header")
            make_tsv(metadata, save_path, metadata_header=metadata_header)
        if label_img is not None:
            label_img = _numpy(label_img, "add_embedding")
            if label_img.ndim != 4 or label_img.shape[0] != mat.shape[0]:
                raise ValueError(f"add_embedding: label_img must be (points, C, H, W) with "
                                 f"{mat.shape[0]} points, got shape {label_img.shape}")
            _sprite(label_img, os.path.join(save_path, "sprite.png"))
        make_mat(mat, save_path)
        # the EmbeddingInfo in protobuf text format, its fields in field-number order
        lines = ["embeddings {", f"  tensor_name: {_quoted(f'{tag}:{str(global_step).zfill(5)}')}"]
        if metadata is not None:
            lines.append(f"  metadata_path: {_quoted(subdir + '/metadata.tsv')}")
        if label_img is not None:
            lines += ["  sprite {", f"    image_path: {_quoted(subdir + '/sprite.png')}",
                      f"    single_image_dim: {label_img.shape[3]}",
                      f"    single_image_dim: {label_img.shape[2]}", "  }"]
        lines += [f"  tensor_path: {_quoted(subdir + '/tensors.tsv')}", "}"]
        self._projector_config = getattr(self, "_projector_config", []) + lines
        config = os.path.join(self._get_file_writer().get_logdir(), "projector_config.pbtxt")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self._projector_config) + "\n")

    def add_pr_curve(self, tag: str, labels, predictions, global_step=None,
                     num_thresholds: int = 127, weights=None, walltime=None) -> None:
        """A precision-recall curve from 0/1 labels and predictions in [0, 1]."""
        labels = _numpy(labels, "add_pr_curve")
        predictions = _numpy(predictions, "add_pr_curve")
        if labels.shape != predictions.shape:
            raise ValueError(f"add_pr_curve: labels {labels.shape} and predictions "
                             f"{predictions.shape} must have one shape")
        summary = _summary.pr_curve(tag, labels, predictions, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_pr_curve_raw(self, tag: str, true_positive_counts, false_positive_counts,
                         true_negative_counts, false_negative_counts, precision, recall,
                         global_step=None, num_thresholds: int = 127, weights=None,
                         walltime=None) -> None:
        """A precision-recall curve from its counts, one a threshold."""
        parts = [_numpy(a, "add_pr_curve_raw") for a in (
            true_positive_counts, false_positive_counts, true_negative_counts,
            false_negative_counts, precision, recall)]
        summary = _summary.pr_curve_raw(tag, *parts, num_thresholds, weights)
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_custom_scalars(self, layout: dict) -> None:
        """{category: {chart title: ['Multiline', [tags]] or ['Margin', [value, lower,
        upper]]}} for the custom-scalars dashboard."""
        for category, charts in layout.items():
            for title, (kind, tags) in charts.items():
                if kind == "Margin" and len(tags) != 3:
                    raise ValueError(f"add_custom_scalars: the Margin chart {category}/{title} "
                                     f"needs 3 tags (value, lower, upper), got {tags}")
        self._get_file_writer().add_summary(_summary.custom_scalars(layout))

    def add_custom_scalars_multilinechart(self, tags: list, category: str = "default",
                                          title: str = "untitled") -> None:
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags: list, category: str = "default",
                                       title: str = "untitled") -> None:
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    # the graph
    def add_graph(self, model, input_to_model=None, verbose: bool = False,
                  use_strict_trace: bool = True) -> None:
        """The model's graph, traced once on input_to_model (a Tensor or a tuple)."""
        graph = _graph_def(model, input_to_model)
        if verbose:
            print(graph)
        self._get_file_writer().add_event(Event(graph_def=graph.SerializeToString()))

    # files
    def flush(self) -> None:
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()

    def close(self) -> None:
        if self.all_writers is None:
            return
        for writer in self.all_writers.values():
            writer.flush()
            writer.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()
