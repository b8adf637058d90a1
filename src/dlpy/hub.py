"""torch.hub for dlpy, without a network: a hub repository is a directory with a
``hubconf.py`` whose public callables are the entry points and whose ``dependencies`` list
names the packages it needs.

    dlpy.hub.list("path/to/repo")                       # ["resnet18", ...]
    model = dlpy.hub.load("path/to/repo", "resnet18", num_classes=10)
    state = dlpy.hub.load_state_dict_from_url("file:///models/r18-6a3f9e1c.pt", check_hash=True)

``source='github'`` (``"owner/repo[:ref]"``) uses a repository already in the hub cache
(``get_dir()/owner_repo_ref``, where torch.hub keeps them); downloading is not done, and
http(s) URLs are an error. Loading a hub repository runs its ``hubconf.py``: only load
repositories you trust (``trust_repo``, as torch's, but never prompting).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import sys
import types
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = ["download_url_to_file", "get_dir", "help", "list", "load",
           "load_state_dict_from_url", "set_dir"]

MODULE_HUBCONF = "hubconf.py"
VAR_DEPENDENCY = "dependencies"
HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_TRUSTED_OWNERS = ("facebookresearch", "facebookincubator", "pytorch", "fairinternal")
_hub_dir: str | None = None


# ---------------------------------------------------------------------------- the cache
def get_dir() -> str:
    """The hub cache directory: ``set_dir``'s, else ``$DLPY_HOME/hub``, else
    ``$XDG_CACHE_HOME/dlpy/hub``, else ``~/.cache/dlpy/hub``."""
    if _hub_dir is not None:
        return _hub_dir
    home = os.environ.get("DLPY_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache")), "dlpy")
    return os.path.join(os.path.expanduser(home), "hub")


def set_dir(d: str | os.PathLike) -> None:
    """Use ``d`` as the hub cache directory from now on."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


# ---------------------------------------------------------------------------- repositories
def _github_dir(repo: str, name: str) -> str:
    owner_name, _, ref = repo.partition(":")
    parts = owner_name.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"hub.{name}: repo_or_dir must be 'owner/repo[:ref]' for "
                         f"source='github', got {repo!r}")
    return os.path.join(get_dir(), "_".join([*parts, (ref or "main").replace("/", "_")]))


def _check_trusted(repo: str, trust_repo: Any, name: str) -> None:
    """torch.hub's trust check, without the prompt: an untrusted repository is an error under
    trust_repo=False or 'check', a warning under None; True records it as trusted."""
    if trust_repo not in (True, False, None, "check"):
        raise ValueError(f"hub.{name}: trust_repo must be True, False, None or 'check', got "
                         f"{trust_repo!r}")
    owner_name = repo.partition(":")[0]
    trusted_file = os.path.join(get_dir(), "trusted_list")
    trusted = set()
    if os.path.exists(trusted_file):
        with open(trusted_file) as f:
            trusted = {line.strip() for line in f}
    key = owner_name.replace("/", "_")
    if key in trusted or owner_name.split("/")[0] in _TRUSTED_OWNERS:
        return
    if trust_repo is True:
        os.makedirs(get_dir(), exist_ok=True)
        with open(trusted_file, "a") as f:
            f.write(key + "\n")
    elif trust_repo is None:
        warnings.warn(f"hub.{name}: {owner_name} is not in the trusted list "
                      f"({trusted_file}); its hubconf.py is run. Pass trust_repo=True to "
                      f"trust it", UserWarning, stacklevel=3)
    else:
        raise ValueError(f"hub.{name}: the repository {owner_name} is not trusted (not in "
                         f"{trusted_file}); pass trust_repo=True to trust it and run its "
                         f"hubconf.py")


def _repo_dir(repo_or_dir: Any, source: str, trust_repo: Any, force_reload: bool,
              name: str) -> str:
    if not isinstance(repo_or_dir, (str, os.PathLike)):
        raise TypeError(f"hub.{name}: repo_or_dir must be a string, got "
                        f"{type(repo_or_dir).__name__}")
    repo_or_dir = os.fspath(repo_or_dir)
    if source == "local":
        if not os.path.isdir(repo_or_dir):
            hint = " (for a GitHub repository pass source='github')" \
                if re.fullmatch(r"[\w.-]+/[\w.-]+(:\S+)?", repo_or_dir) else ""
            raise ValueError(f"hub.{name}: {repo_or_dir!r} is not a directory{hint}")
        return repo_or_dir
    if source != "github":
        raise ValueError(f"hub.{name}: unknown source {source!r}, expected 'github' or "
                         f"'local'")
    repo_dir = _github_dir(repo_or_dir, name)
    if force_reload or not os.path.isdir(repo_dir):
        raise ValueError(f"hub.{name}: {repo_or_dir} is not in the hub cache ({repo_dir}) and "
                         f"dlpy.hub does not download (no network): clone it there, or load "
                         f"a local clone with source='local'")
    _check_trusted(repo_or_dir, trust_repo, name)
    return repo_dir


def _import_hubconf(repo_dir: str, name: str) -> types.ModuleType:
    path = os.path.join(repo_dir, MODULE_HUBCONF)
    if not os.path.isfile(path):
        raise ValueError(f"hub.{name}: {repo_dir} has no {MODULE_HUBCONF}")
    sys.path.insert(0, repo_dir)  # hubconf.py may import its repository's modules
    try:
        spec = importlib.util.spec_from_file_location("hubconf", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(repo_dir)
    dependencies = getattr(module, VAR_DEPENDENCY, [])
    missing = [pkg for pkg in dependencies if importlib.util.find_spec(pkg) is None]
    if missing:
        raise RuntimeError(f"Missing dependencies: {', '.join(missing)}")
    return module


def _entry(hubconf: types.ModuleType, model: Any) -> Any:
    if not isinstance(model, str):
        raise ValueError(f"Invalid input: model should be a string of function name, got "
                         f"{model!r}")
    function = getattr(hubconf, model, None)
    if function is None or not callable(function):
        raise RuntimeError(f"Cannot find callable {model} in hubconf")
    return function


def list(github: str, force_reload: bool = False, skip_validation: bool = False,  # noqa: A001
         trust_repo: Any = None, verbose: bool = True, source: str = "local") -> list[str]:
    """The entry points of a hub repository: hubconf.py's public callables."""
    hubconf = _import_hubconf(_repo_dir(github, source, trust_repo, force_reload, "list"),
                              "list")
    return [f for f in dir(hubconf) if callable(getattr(hubconf, f)) and not f.startswith("_")]


def help(github: str, model: str, force_reload: bool = False,  # noqa: A001
         skip_validation: bool = False, trust_repo: Any = None, source: str = "local") -> str:
    """The docstring of entry point ``model``."""
    hubconf = _import_hubconf(_repo_dir(github, source, trust_repo, force_reload, "help"),
                              "help")
    return _entry(hubconf, model).__doc__


def load(repo_or_dir: str, model: str, *args, source: str = "local", trust_repo: Any = None,
         force_reload: bool = False, verbose: bool = True, skip_validation: bool = False,
         **kwargs) -> Any:
    """``hubconf.<model>(*args, **kwargs)`` of a hub repository (a directory by default;
    ``source='github'``: one already in the hub cache)."""
    hubconf = _import_hubconf(_repo_dir(repo_or_dir, source, trust_repo, force_reload, "load"),
                              "load")
    return _entry(hubconf, model)(*args, **kwargs)


# ---------------------------------------------------------------------------- files
def _source_path(url: str, name: str) -> str:
    if not isinstance(url, (str, os.PathLike)):
        raise TypeError(f"hub.{name}: url must be a string, got {type(url).__name__}")
    url = os.fspath(url)
    parts = urlparse(url)
    if parts.scheme in ("http", "https", "ftp"):
        raise ValueError(f"hub.{name}: {url} needs the network, which dlpy.hub does not use; "
                         f"download it yourself and pass a file:// URL or a local path")
    if parts.scheme == "file":
        return unquote(parts.path)
    if parts.scheme and len(parts.scheme) > 1:
        raise ValueError(f"hub.{name}: unsupported URL scheme {parts.scheme!r} in {url} "
                         f"(file:// and local paths only)")
    return url


def download_url_to_file(url: str, dst: str | os.PathLike, hash_prefix: str | None = None,
                         progress: bool = True) -> None:
    """Copy ``url`` (file:// or a local path) to ``dst`` atomically; with ``hash_prefix``, the
    file's SHA-256 must start with it."""
    from dlpy.io import atomic_write

    path = _source_path(url, "download_url_to_file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hub.download_url_to_file: {path}: no such file")
    digest = hashlib.sha256()
    with open(path, "rb") as source, atomic_write(dst) as target:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            target.write(chunk)
        if hash_prefix is not None and not digest.hexdigest().startswith(hash_prefix):
            raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got '
                               f'"{digest.hexdigest()}")')


def load_state_dict_from_url(url: str, model_dir: str | None = None, map_location: Any = None,
                             progress: bool = True, check_hash: bool = False,
                             file_name: str | None = None, weights_only: bool = True) -> Any:
    """The object saved at ``url`` (file:// or a local path; a torch/dlpy checkpoint or a
    .safetensors file), copied first to ``model_dir`` (default ``get_dir()/checkpoints``).
    ``check_hash``: the file name's ``-<hex>.`` part must begin its SHA-256 (torch's
    convention)."""
    path = _source_path(url, "load_state_dict_from_url")
    model_dir = model_dir if model_dir is not None else os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name if file_name is not None else os.path.basename(path)
    cached_file = os.path.join(model_dir, filename)
    if not os.path.exists(cached_file):
        hash_prefix = None
        if check_hash:
            match = HASH_REGEX.search(filename)
            if match is None:
                raise ValueError(f"hub.load_state_dict_from_url: check_hash=True but the file "
                                 f"name {filename!r} has no '-<sha256 prefix>.' part")
            hash_prefix = match.group(1)
        download_url_to_file(url, cached_file, hash_prefix, progress)
    if Path(cached_file).suffix == ".safetensors":
        from dlpy.utils.safetensors import load_file

        return load_file(cached_file)
    from dlpy.serialization import load as load_checkpoint

    return load_checkpoint(cached_file, map_location=map_location, weights_only=weights_only)
