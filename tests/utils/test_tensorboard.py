"""dlpy.utils.tensorboard.SummaryWriter: the event files are TFRecords whose CRCs check, their
events equal torch's SummaryWriter's for the same calls (fixtures/tensorboard/torch, made by
make_tensorboard_fixtures.py) but for the wall time, and tags, steps, values, histogram buckets,
images, hparams, embeddings and the traced graph read back as written."""

from __future__ import annotations

import importlib
import io
import sys
from pathlib import Path

import numpy as np
import pytest

# tensorboardX imports torch where torch is installed (seconds, and no test here needs it; CI
# has no torch): it is imported as CI imports it, with torch's import refused meanwhile
_refuse_torch = "torch" not in sys.modules
if _refuse_torch:
    sys.modules["torch"] = None  # `import torch` raises ImportError, which tensorboardX expects
try:
    pytest.importorskip("tensorboardX")
finally:
    if _refuse_torch:
        del sys.modules["torch"]

from cases_tensorboard import WALLTIME, log_calls, read_records, run_dirs  # noqa: E402
from tensorboardX.proto.event_pb2 import Event  # noqa: E402
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData  # noqa: E402

import dlpy  # noqa: E402
from dlpy import Tensor, nn  # noqa: E402
from dlpy.utils.tensorboard import SummaryWriter  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tensorboard" / "torch"


def events(log_dir, run: str = ".") -> list[Event]:
    return [Event.FromString(r) for r in read_records(run_dirs(Path(log_dir))[run])]


def values(log_dir, run: str = ".") -> list[tuple[int, object]]:
    """(step, Summary.Value) of every summary value in a run."""
    return [(e.step, v) for e in events(log_dir, run) for v in e.summary.value]


def png_pixels(encoded: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(encoded)))


def normalized(event: Event) -> tuple[Event, list[np.ndarray]]:
    """The event without its wall time and the writer's name, PNGs decoded and hparams content
    parsed, histogram sums set apart (PNG encoders, protobuf map order and the last bit of a BLAS
    dot product may differ while the content is the same)."""
    event = Event.FromString(event.SerializeToString())
    event.wall_time = 0
    event.DiscardUnknownFields()  # torch's first event names its writer (source_metadata)
    pixels = []
    for value in event.summary.value:
        if value.HasField("histo"):  # sums by numpy's BLAS dot: the last bit varies by build
            pixels.append(np.array([value.histo.sum, value.histo.sum_squares]))
            value.histo.sum = value.histo.sum_squares = 0
        if value.HasField("image"):
            pixels.append(png_pixels(value.image.encoded_image_string))
            value.image.encoded_image_string = b""
        plugin = value.metadata.plugin_data
        if plugin.plugin_name == "hparams":
            content = HParamsPluginData.FromString(plugin.content)
            plugin.content = content.SerializeToString(deterministic=True)
    return event, pixels


# ----------------------------------------------------------------------------- against torch
def test_events_equal_torchs_for_the_same_calls(tmp_path):
    pytest.importorskip("PIL")
    with SummaryWriter(tmp_path) as writer:
        log_calls(writer, Tensor)
    ours, theirs = run_dirs(tmp_path), {}
    for path in FIXTURE.rglob("events.tfrecord"):
        theirs[path.parent.relative_to(FIXTURE).as_posix()] = path
    assert sorted(ours) == sorted(theirs) == [".", "hp", "run_a", "run_b"]
    for run in ours:
        mine = [Event.FromString(r) for r in read_records(ours[run])]
        reference = [Event.FromString(r) for r in read_records(theirs[run])]
        assert len(mine) == len(reference), run
        for a, b in zip(mine, reference):
            if a.HasField("summary") and a.summary.value[0].tag.startswith(("loss", "run")):
                assert a.wall_time == WALLTIME
            (a, pixels_a), (b, pixels_b) = normalized(a), normalized(b)
            assert a == b, (run, a, b)
            for x, y in zip(pixels_a, pixels_b, strict=True):
                if x.dtype == np.float64:  # a histogram's sum and sum of squares
                    np.testing.assert_allclose(x, y, rtol=1e-14)
                else:
                    np.testing.assert_array_equal(x, y)


def test_embedding_files_equal_torchs(tmp_path):
    pytest.importorskip("PIL")
    with SummaryWriter(tmp_path) as writer:
        log_calls(writer, Tensor)
    for name in ("projector_config.pbtxt", "00014/points/tensors.tsv",
                 "00014/points/metadata.tsv"):
        assert (tmp_path / name).read_text() == (FIXTURE / name).read_text(), name
    sprite = "00014/points/sprite.png"
    mine = png_pixels((tmp_path / sprite).read_bytes())
    assert mine.shape == (12, 12, 3)  # 3 images a row, 4 pixels each, padded to a square
    np.testing.assert_array_equal(mine, png_pixels((FIXTURE / sprite).read_bytes()))


# ----------------------------------------------------------------------------- reading back
def test_scalars_read_back_with_tags_steps_and_values(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("loss", Tensor(np.float32(0.25)), 1)
        writer.add_scalar("loss", np.array([0.125]), 2)
        writer.add_scalar("acc", 3, 5, walltime=12.5)
        writer.add_scalar("exact", 0.1, 6, new_style=True, double_precision=True)
    found = values(tmp_path)
    assert [(s, v.tag, v.simple_value) for s, v in found[:3]] == [
        (1, "loss", 0.25), (2, "loss", 0.125), (5, "acc", 3.0)]
    assert events(tmp_path)[3].wall_time == 12.5
    step, exact = found[3]
    assert step == 6 and exact.tensor.double_val == [0.1]
    assert exact.metadata.plugin_data.plugin_name == "scalars"
    assert events(tmp_path)[0].file_version == "brain.Event:2"


def test_add_scalars_writes_one_run_a_key(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalars("loss/all", {"train": 1.0, "valid": 2.0}, 3)
        writer.add_scalars("loss/all", {"train": 0.5}, 4)
    assert sorted(run_dirs(tmp_path)) == [".", "loss_all_train", "loss_all_valid"]
    train = values(tmp_path, "loss_all_train")
    assert [(s, v.tag, v.simple_value) for s, v in train] == [(3, "loss/all", 1.0),
                                                                (4, "loss/all", 0.5)]


def test_histogram_buckets(tmp_path):
    data = np.array([0.5, 1.5, 1.5, 2.5, 2.5, 2.5])
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram("h", Tensor(data), 7, bins=[0, 1, 2, 3])
        writer.add_histogram("tf", data, 8)  # the default bins: exponential, 1.1 apart
    (step, h), (_, tf) = values(tmp_path)
    histogram = h.histo
    assert step == 7 and h.tag == "h"
    assert (histogram.min, histogram.max, histogram.num) == (0.5, 2.5, 6)
    assert histogram.sum == pytest.approx(data.sum())
    assert histogram.sum_squares == pytest.approx(data @ data)
    # the right edges, with an empty bucket to the left of the first one
    assert list(histogram.bucket_limit) == [0, 1, 2, 3] and list(histogram.bucket) == [0, 1, 2, 3]
    limits, counts = np.array(tf.histo.bucket_limit), np.array(tf.histo.bucket)
    assert counts.sum() == 6 and np.all(np.diff(limits) > 0)
    assert np.allclose(limits[2:] / limits[1:-1], 1.1)


def test_add_histogram_raw(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_histogram_raw("raw", 0, 2, 3, 3, 5, np.array([1.0, 2.0]), Tensor(
            np.array([1.0, 2.0])), global_step=1)
    (_, raw), = values(tmp_path)
    assert list(raw.histo.bucket_limit) == [1, 2] and list(raw.histo.bucket) == [1, 2]
    with SummaryWriter(tmp_path / "bad") as writer, pytest.raises(
            ValueError, match=r"add_histogram_raw: .* got 2 and 1"):
        writer.add_histogram_raw("raw", 0, 2, 3, 3, 5, [1.0, 2.0], [3])


def test_images_shapes_and_pixels(tmp_path):
    pytest.importorskip("PIL")
    chw = np.zeros((3, 4, 5))
    chw[0] = 1.0  # red
    hwc = np.full((4, 5, 3), 255, dtype=np.uint8)
    with SummaryWriter(tmp_path) as writer:
        writer.add_image("chw", Tensor(chw), 0)
        writer.add_image("hwc", hwc, 0, dataformats="HWC")
        writer.add_images("batch", np.full((9, 1, 2, 3), 0.5), 1)
    (_, red), (_, white), (_, batch) = values(tmp_path)
    assert (red.image.height, red.image.width, red.image.colorspace) == (4, 5, 3)
    pixels = png_pixels(red.image.encoded_image_string)
    assert pixels.shape == (4, 5, 3) and np.all(pixels == [255, 0, 0])
    assert np.all(png_pixels(white.image.encoded_image_string) == 255)
    # 9 images in a grid of 8 a row: 2 rows, gray channels repeated to RGB
    assert (batch.image.height, batch.image.width) == (4, 24)
    grid = png_pixels(batch.image.encoded_image_string)
    assert np.all(grid[:2] == 127) and np.all(grid[2:, 3:] == 0)


def test_add_figure(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(2, 1), dpi=50)
    with SummaryWriter(tmp_path) as writer:
        writer.add_figure("fig", figure, 3)
    (step, value), = values(tmp_path)
    assert step == 3 and (value.image.height, value.image.width) == (50, 100)
    assert not plt.fignum_exists(figure.number)  # closed


def test_text_hparams_pr_curve_and_layout(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_text("notes", "hello *world*", 2)
        writer.add_hparams({"lr": 0.1, "optimizer": "sgd", "depth": Tensor(np.array([4.0]))},
                           {"hparam/loss": Tensor(np.float64(0.5))}, run_name="trial",
                           hparam_domain_discrete={"optimizer": ["sgd", "adam"]})
        writer.add_pr_curve("pr", np.array([1, 0, 1, 1]), Tensor(np.array([0.9, 0.2, 0.8, 0.3])),
                            4, num_thresholds=5)
        writer.add_custom_scalars_multilinechart(["a", "b"], title="ab")
    (step, text), (pr_step, pr), (_, layout) = values(tmp_path)
    assert (step, text.tag, text.tensor.string_val) == (2, "notes/text_summary",
                                                        [b"hello *world*"])
    assert pr_step == 4 and [d.size for d in pr.tensor.tensor_shape.dim] == [6, 5]
    tp = np.array(pr.tensor.float_val).reshape(6, 5)[0]
    assert list(tp) == [3, 3, 2, 2, 0]  # predictions at or above thresholds 0, .25, .5, .75, 1
    assert layout.tag == "custom_scalars__config__"
    trial = values(tmp_path, "trial")
    assert [v.tag for _, v in trial] == ["_hparams_/experiment", "_hparams_/session_start_info",
                                         "_hparams_/session_end_info", "hparam/loss"]
    start = HParamsPluginData.FromString(trial[1][1].metadata.plugin_data.content)
    hparams = start.session_start_info.hparams
    assert (hparams["lr"].number_value, hparams["optimizer"].string_value,
            hparams["depth"].number_value) == (0.1, "sgd", 4.0)
    experiment = HParamsPluginData.FromString(trial[0][1].metadata.plugin_data.content)
    infos = {i.name: i for i in experiment.experiment.hparam_infos}
    assert [v.string_value for v in infos["optimizer"].domain_discrete.values] == ["sgd", "adam"]
    assert [m.name.tag for m in experiment.experiment.metric_infos] == ["hparam/loss"]
    assert trial[3][1].simple_value == 0.5


def test_embedding_without_images_and_a_second_one(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_embedding(Tensor(np.eye(2)), metadata=[["x", 1], ["y", 2]],
                             metadata_header=["name", "n"])
        writer.add_embedding(np.ones((1, 3)), tag="a/b", global_step=2)
    assert (tmp_path / "00000/default/tensors.tsv").read_text() == "1.0\t0.0\n0.0\t1.0\n"
    assert (tmp_path / "00000/default/metadata.tsv").read_text() == "name\tn\nx\t1\ny\t2\n"
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert config.count("embeddings {") == 2 and 'tensor_name: "a/b:00002"' in config
    assert 'tensor_path: "00002/a%2fb/tensors.tsv"' in config
    assert (tmp_path / "00002" / "a%2fb" / "tensors.tsv").exists()


# ----------------------------------------------------------------------------- the graph
class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.encoder = nn.Sequential(nn.Linear(4, 3, rng=rng), nn.ReLU())
        self.head = nn.Linear(3, 2, rng=rng)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x, y):
        return self.head(self.dropout(self.encoder(x))) + y, x.sum()


def test_add_graph_names_ops_and_shapes(tmp_path):
    model = TwoInputs()
    model.train()
    x, y = Tensor(np.ones((5, 4), np.float32)), Tensor(np.zeros((5, 2), np.float32))
    with SummaryWriter(tmp_path) as writer:
        writer.add_graph(model, (x, y))
    graph_events = [e for e in events(tmp_path) if e.graph_def]
    assert len(graph_events) == 1
    from tensorboardX.proto.graph_pb2 import GraphDef

    graph = GraphDef.FromString(graph_events[0].graph_def)
    nodes = {n.name: n for n in graph.node}
    assert set(nodes) == {
        "input/input_0", "input/input_1", "encoder/0/weight", "encoder/0/bias",
        "encoder/0/Linear", "ReLU", "head/weight", "head/bias", "head/Linear", "Add", "Sum",
        "output/output_0", "output/output_1"}  # eval mode: no dropout op
    assert list(nodes["head/Linear"].input) == ["ReLU", "head/weight", "head/bias"]
    assert nodes["head/Linear"].op == "Linear" and nodes["input/input_0"].op == "IO Node"
    assert list(nodes["output/output_0"].input) == ["Add"]

    def shape(name):
        return [d.size for d in nodes[name].attr["_output_shapes"].list.shape[0].dim]

    assert shape("encoder/0/Linear") == [5, 3] and shape("Sum") == []
    assert shape("head/weight") == [2, 3]
    assert model.training and model.dropout.training  # the mode is restored


def test_add_graph_refuses_a_model_that_returns_no_tensor(tmp_path):
    with SummaryWriter(tmp_path) as writer, pytest.raises(TypeError, match="output 0"):
        writer.add_graph(lambda x: "text", Tensor(np.ones(2)))


# ----------------------------------------------------------------------------- files
def test_files_are_tfrecords_whose_crcs_check(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        writer.add_scalar("x", 1.0, 0)
    path = run_dirs(tmp_path)["."]
    assert len(read_records(path)) == 2
    data = bytearray(path.read_bytes())
    data[-6] ^= 1  # a byte of the last event
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="bad data CRC"):
        read_records(path)


def test_file_names_and_reopening(tmp_path):
    first, second = SummaryWriter(tmp_path, filename_suffix=".dlpy"), SummaryWriter(tmp_path)
    first.add_scalar("a", 1.0, 0)
    second.add_scalar("b", 2.0, 0)
    first.flush()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 2  # made in the same second, they do not overwrite each other
    assert any(n.endswith(".dlpy") for n in names)
    assert all(n.startswith("events.out.tfevents.") for n in names)
    flushed = [p for p in tmp_path.iterdir() if p.name.endswith(".dlpy")][0]
    assert [Event.FromString(r).summary.value[0].tag for r in read_records(flushed)[1:]] == ["a"]
    first.close()
    first.close()  # a second close does nothing
    first.add_scalar("a", 2.0, 1)  # writes a new file
    first.close()
    second.close()
    assert len(list(tmp_path.iterdir())) == 3


def test_purge_step_and_default_log_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with SummaryWriter(comment="_lr0.1", purge_step=5) as writer:
        log_dir = Path(writer.get_logdir())
    assert log_dir.parent == Path("runs") and log_dir.name.endswith("_lr0.1")
    first, second = events(log_dir)[1:3]
    assert (first.step, first.file_version) == (5, "brain.Event:2")
    assert (second.step, second.session_log.status) == (5, second.session_log.START)


def test_bad_input_errors(tmp_path):
    with SummaryWriter(tmp_path) as writer:
        with pytest.raises(ValueError, match=r"add_scalar: 'x' must hold one value, got shape "
                                             r"\(3,\)"):
            writer.add_scalar("x", np.ones(3))
        with pytest.raises(TypeError, match="add_scalar: expected a dlpy Tensor.*got str"):
            writer.add_scalar("x", "1.0")
        with pytest.raises(ValueError, match=r"add_image: dataformats 'HWC' .* \(3, 4\)"):
            writer.add_image("x", np.ones((3, 4)), dataformats="HWC")
        with pytest.raises(ValueError, match="add_images: dataformats 'NCHX'"):
            writer.add_images("x", np.ones((1, 3, 4, 4)), dataformats="NCHX")
        with pytest.raises(ValueError, match="add_histogram: 'h' has no values"):
            writer.add_histogram("h", np.array([]))
        with pytest.raises(TypeError, match="add_text: text_string must be a str, got int"):
            writer.add_text("t", 3)
        with pytest.raises(TypeError, match="add_hparams: hparam_dict and metric_dict"):
            writer.add_hparams([("lr", 0.1)], {})
        with pytest.raises(ValueError, match=r"add_hparams: hparam_dict\['f'\] .* got list"):
            writer.add_hparams({"f": [1]}, {})
        with pytest.raises(TypeError, match=r"hparam_domain_discrete\['lr'\] must be a list of "
                                            r"values of the type of hparam_dict\['lr'\], got"):
            writer.add_hparams({"lr": 0.1}, {}, hparam_domain_discrete={"lr": ["a"]})
        with pytest.raises(ValueError, match=r"add_embedding: mat must be \(points, features\)"):
            writer.add_embedding(np.ones(3))
        with pytest.raises(ValueError, match="add_embedding: 2 metadata labels for 3 points"):
            writer.add_embedding(np.ones((3, 2)), metadata=["a", "b"])
        with pytest.raises(ValueError, match=r"add_embedding: label_img .* got shape \(2, 4, 4\)"):
            writer.add_embedding(np.ones((2, 2)), label_img=np.ones((2, 4, 4)))
        with pytest.raises(ValueError, match=r"add_pr_curve: labels \(3,\) and predictions"):
            writer.add_pr_curve("pr", np.ones(3), np.ones(4))
        with pytest.raises(ValueError, match="add_custom_scalars: the Margin chart c/m needs 3"):
            writer.add_custom_scalars({"c": {"m": ["Margin", ["a", "b"]]}})


def test_missing_tensorboardx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    monkeypatch.delitem(sys.modules, "dlpy.utils.tensorboard")
    with pytest.raises(ImportError, match=r"pip install dlpy\[tensorboard\]"):
        importlib.import_module("dlpy.utils.tensorboard")
    monkeypatch.undo()
    assert importlib.import_module("dlpy.utils.tensorboard").SummaryWriter is SummaryWriter


def test_a_training_loop_logs_a_falling_loss(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.Linear(3, 1, rng=rng)
    x, target = (Tensor(rng.standard_normal(s, dtype=np.float32)) for s in ((16, 3), (16, 1)))
    optimizer = dlpy.optim.SGD(model.parameters(), lr=0.1)
    with SummaryWriter(tmp_path) as writer:
        for step in range(20):
            loss = ((model(x) - target) ** 2).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss", loss, step)
            writer.add_histogram("weight", model.weight, step)
    losses = [v.simple_value for _, v in values(tmp_path) if v.tag == "loss"]
    assert len(losses) == 20 and losses[-1] < 0.8 * losses[0]
