"""dlpy.hub: a tiny hub repository built in tmp_path, entry points, dependencies, the trust
check, the cache directory and load_state_dict_from_url over file:// and local paths."""

import hashlib
import os
import textwrap

import numpy as np
import pytest

import dlpy
from dlpy import Tensor, hub, nn

HUBCONF = '''
dependencies = ["numpy"]

from tinynet import TinyNet  # a module of the repository itself


def tinynet(width=4, pretrained=False):
    """A two-layer MLP; pretrained=True loads weights.pt from the repository."""
    import os

    import dlpy

    model = TinyNet(width)
    if pretrained:
        path = os.path.join(os.path.dirname(__file__), "weights.pt")
        model.load_state_dict(dlpy.hub.load_state_dict_from_url(path))
    return model


def _private():
    return None

NOT_CALLABLE = 3
'''

TINYNET = '''
import numpy as np

from dlpy import nn


class TinyNet(nn.Module):
    def __init__(self, width):
        super().__init__()
        rng = np.random.default_rng(0)
        self.fc1 = nn.Linear(3, width, rng=rng)
        self.fc2 = nn.Linear(width, 2, rng=rng)

    def forward(self, x):
        return self.fc2(self.fc1(x).relu())
'''


@pytest.fixture
def repo(tmp_path, monkeypatch):
    directory = tmp_path / "repo"
    directory.mkdir()
    (directory / "hubconf.py").write_text(textwrap.dedent(HUBCONF))
    (directory / "tinynet.py").write_text(textwrap.dedent(TINYNET))
    monkeypatch.setattr(hub, "_hub_dir", str(tmp_path / "hub_cache"))
    return directory


def test_list_help_and_load_from_a_local_repository(repo):
    assert hub.list(str(repo)) == ["TinyNet", "tinynet"]
    assert hub.help(str(repo), "tinynet").startswith("A two-layer MLP")
    model = hub.load(str(repo), "tinynet", width=5)
    assert isinstance(model, nn.Module) and model.fc1.out_features == 5
    assert str(repo) not in __import__("sys").path  # the repository left sys.path


def test_pretrained_weights_through_the_hub(repo):
    trained = hub.load(str(repo), "tinynet")
    for p in trained.parameters():
        p.data[...] = 0.5
    dlpy.save(trained.state_dict(), repo / "weights.pt")
    model = hub.load(str(repo), "tinynet", pretrained=True)
    x = Tensor(np.ones((1, 3), np.float32))
    np.testing.assert_array_equal(model(x).data, trained(x).data)


def test_missing_dependencies_and_entry_points(repo):
    hubconf = repo / "hubconf.py"
    hubconf.write_text(hubconf.read_text().replace('["numpy"]',
                                                   '["numpy", "no_such_pkg_dlpy"]'))
    with pytest.raises(RuntimeError, match="Missing dependencies: no_such_pkg_dlpy"):
        hub.load(str(repo), "tinynet")
    hubconf.write_text(textwrap.dedent(HUBCONF))
    with pytest.raises(RuntimeError, match="Cannot find callable resnet in hubconf"):
        hub.load(str(repo), "resnet")
    with pytest.raises(RuntimeError, match="Cannot find callable NOT_CALLABLE in hubconf"):
        hub.load(str(repo), "NOT_CALLABLE")
    with pytest.raises(ValueError, match="model should be a string of function name"):
        hub.load(str(repo), 3)


def test_bad_repositories_are_clear_errors(repo, tmp_path):
    with pytest.raises(ValueError, match="is not a directory"):
        hub.load(str(tmp_path / "nowhere"), "tinynet")
    with pytest.raises(ValueError, match="for a GitHub repository pass source='github'"):
        hub.load("pytorch/vision", "resnet18")
    with pytest.raises(ValueError, match="has no hubconf.py"):
        hub.load(str(tmp_path), "tinynet")
    with pytest.raises(ValueError, match="unknown source 'gitlab'"):
        hub.load(str(repo), "tinynet", source="gitlab")
    with pytest.raises(ValueError, match="not in the hub cache .*no network"):
        hub.load("someone/models:v1", "tinynet", source="github")
    with pytest.raises(ValueError, match="must be 'owner/repo\\[:ref\\]'"):
        hub.load("not-a-repo", "tinynet", source="github")


def test_github_source_uses_the_cache_and_checks_trust(repo):
    cached = os.path.join(hub.get_dir(), "someone_models_v1")
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    os.symlink(repo, cached)
    with pytest.raises(ValueError, match="someone/models is not trusted"):
        hub.load("someone/models:v1", "tinynet", source="github", trust_repo="check")
    with pytest.warns(UserWarning, match="not in the trusted list"):
        hub.load("someone/models:v1", "tinynet", source="github")
    assert isinstance(hub.load("someone/models:v1", "tinynet", source="github",
                               trust_repo=True), nn.Module)
    # now in the trusted list: 'check' passes
    assert hub.list("someone/models:v1", source="github", trust_repo="check") == [
        "TinyNet", "tinynet"]


def test_get_dir_and_set_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "_hub_dir", None)
    monkeypatch.setenv("DLPY_HOME", str(tmp_path / "home"))
    assert hub.get_dir() == str(tmp_path / "home" / "hub")
    monkeypatch.delenv("DLPY_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.get_dir() == str(tmp_path / "xdg" / "dlpy" / "hub")
    hub.set_dir(tmp_path / "mine")
    assert hub.get_dir() == str(tmp_path / "mine")


def test_load_state_dict_from_url_file_and_local_path(repo, tmp_path):
    state = {"w": Tensor(np.arange(6.0).reshape(2, 3))}
    path = tmp_path / "weights.pt"
    dlpy.save(state, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    named = tmp_path / f"tiny-{digest[:8]}.pt"
    named.write_bytes(path.read_bytes())
    loaded = hub.load_state_dict_from_url(named.as_uri(), check_hash=True)
    np.testing.assert_array_equal(loaded["w"].data, state["w"].data)
    assert os.path.exists(os.path.join(hub.get_dir(), "checkpoints", named.name))
    loaded = hub.load_state_dict_from_url(str(path), model_dir=str(tmp_path / "models"))
    np.testing.assert_array_equal(loaded["w"].data, state["w"].data)
    from dlpy.utils.safetensors import save_file

    save_file({"w": state["w"]}, tmp_path / "w.safetensors")
    loaded = hub.load_state_dict_from_url((tmp_path / "w.safetensors").as_uri())
    np.testing.assert_array_equal(loaded["w"].data, state["w"].data)


def test_load_state_dict_from_url_errors(repo, tmp_path):
    with pytest.raises(ValueError, match="needs the network, which dlpy.hub does not use"):
        hub.load_state_dict_from_url("https://download.pytorch.org/models/r18-f37072fd.pth")
    with pytest.raises(ValueError, match="unsupported URL scheme 's3'"):
        hub.load_state_dict_from_url("s3://bucket/w.pt")
    path = tmp_path / "tiny-deadbeef.pt"
    dlpy.save({"w": Tensor(np.ones(2))}, path)
    with pytest.raises(RuntimeError, match='invalid hash value \\(expected "deadbeef"'):
        hub.load_state_dict_from_url(path.as_uri(), check_hash=True)
    assert not os.path.exists(os.path.join(hub.get_dir(), "checkpoints", path.name))
    with pytest.raises(ValueError, match="has no '-<sha256 prefix>.' part"):
        hub.load_state_dict_from_url(str(tmp_path / "plain.pt"), check_hash=True,
                                     model_dir=str(tmp_path / "m2"))
    with pytest.raises(FileNotFoundError, match="missing.pt: no such file"):
        hub.download_url_to_file((tmp_path / "missing.pt").as_uri(), tmp_path / "out.pt")
