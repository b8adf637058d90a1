"""Module: parameter names and order, strict state dicts, checkpoints with config and optimiser."""

import numpy as np
import pytest

from dlpy import nn, optim


class Block(nn.Module):
    def __init__(self, rng):
        super().__init__()
        self.config = {"width": 4}
        self.first = nn.Linear(3, 4, rng=rng)
        self.act = nn.ReLU()
        self.layers = nn.ModuleList([nn.Linear(4, 4, rng=rng), nn.Linear(4, 2, rng=rng)])
        self.norm = nn.LayerNorm(2)

    def forward(self, x):
        x = self.act(self.first(x))
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


def make(seed=0):
    return Block(np.random.default_rng(seed))


def test_named_parameters_are_dotted_and_in_assignment_order():
    assert [k for k, _ in make().named_parameters()] == [
        "first.weight", "first.bias", "layers.0.weight", "layers.0.bias", "layers.1.weight",
        "layers.1.bias", "norm.weight", "norm.bias",
    ]
    assert make().num_parameters() == 3 * 4 + 4 + 16 + 4 + 8 + 2 + 2 + 2


def test_shared_parameter_is_listed_once():
    model = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    model[1].weight = model[0].weight
    assert len(model.parameters()) == 3


def test_state_dict_is_a_copy():
    model = make()
    state = model.state_dict()
    state["first.weight"][...] = 0
    assert np.abs(model.first.weight.data).sum() > 0


def test_strict_load_reports_missing_unexpected_and_shape():
    model, state = make(), make(1).state_dict()
    del state["norm.bias"]
    state["extra.weight"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"missing keys: \['norm.bias'\]; unexpected keys: "
                                         r"\['extra.weight'\]"):
        model.load_state_dict(state)
    state = make(1).state_dict()
    state["layers.1.weight"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match=r"shape mismatch for layers.1.weight: the model has "
                                         r"\(2, 4\), the state has \(4, 2\)"):
        model.load_state_dict(state)


def test_non_strict_load_takes_what_matches():
    model, other = make(), make(1)
    state = {"first.bias": other.first.bias.data}
    model.load_state_dict(state, strict=False)
    np.testing.assert_array_equal(model.first.bias.data, other.first.bias.data)


def test_save_load_round_trip_with_config_and_optimizer(tmp_path):
    model = make()
    opt = optim.AdamW(model.parameters(), lr=0.01)
    x = np.random.default_rng(2).standard_normal((5, 3)).astype(np.float32)
    for _ in range(3):
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    path = tmp_path / "run" / "model.npz"
    nn.save_checkpoint(path, model, opt, extra={"epoch": 3}, meta={"note": "test"})
    assert nn.read_meta(path) == {"class": "Block", "config": {"width": 4},
                                  "optimizer": "AdamW", "note": "test"}
    restored = make(9)
    restored_opt = optim.AdamW(restored.parameters(), lr=0.5)
    info = nn.load_checkpoint(path, restored, restored_opt)
    assert int(info["extra"]["epoch"]) == 3
    for (name, a), (_, b) in zip(model.named_parameters(), restored.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)
    np.testing.assert_array_equal(model(x).data, restored(x).data)
    assert restored_opt.lr == 0.01 and restored_opt.state_dict().keys() == opt.state_dict().keys()
    # Module.save/load are the same format without the optimiser
    model.save(tmp_path / "plain.npz")
    assert make(3).load(tmp_path / "plain.npz") == {}


def test_load_errors_name_the_file(tmp_path):
    model = make()
    model.save(tmp_path / "a.npz")
    other = nn.Sequential(nn.Linear(3, 4))
    with pytest.raises(ValueError, match=r"a.npz: load_state_dict: .*missing keys: \['0.weight'"):
        other.load(tmp_path / "a.npz")
    with pytest.raises(FileNotFoundError, match="nothing.npz: no such checkpoint file"):
        model.load(tmp_path / "nothing.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz: not a readable .npz checkpoint"):
        model.load(tmp_path / "bad.npz")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    model = make()
    model.save(tmp_path / "m.npz")
    model.save(tmp_path / "m.npz")  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]
