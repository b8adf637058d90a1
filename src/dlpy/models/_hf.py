"""Reading and writing checkpoint directories in Hugging Face ``transformers``' layout:
``config.json`` beside the weights as ``model.safetensors``, shards listed by
``model.safetensors.index.json``, or PyTorch's ``pytorch_model.bin`` (read by ``dlpy.load``,
which never unpickles code). Nothing is downloaded: ``path`` is a local directory."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from dlpy.tensor import Tensor

CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
TORCH_BIN = "pytorch_model.bin"
TORCH_BIN_INDEX = "pytorch_model.bin.index.json"


def read_config(path: str | os.PathLike) -> dict:
    """The ``config.json`` of the checkpoint directory ``path`` as a dict."""
    directory = _directory(path)
    name = os.path.join(directory, CONFIG)
    if not os.path.exists(name):
        raise FileNotFoundError(f"{name}: no such file (a checkpoint directory holds "
                                f"{CONFIG} beside the weights)")
    return read_json(name)


def read_json(name: str) -> dict:
    """The JSON object in the file ``name``; errors name the file."""
    try:
        with open(name, encoding="utf-8") as handle:
            data = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{name}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{name}: expected a JSON object, got {type(data).__name__}")
    return data


PREPROCESSOR_CONFIG = "preprocessor_config.json"


class PreprocessorFile:
    """``from_pretrained`` / ``save_pretrained`` of a preprocessor_config.json for a class with
    ``from_dict(values, source)`` and ``to_dict()`` (image processors, feature extractors)."""

    directory_kind = "a model's"  # in the missing-file error: "an image model's directory..."

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike):
        """The object of ``preprocessor_config.json`` in the directory ``path``."""
        name = os.path.join(os.fspath(path), PREPROCESSOR_CONFIG)
        if not os.path.exists(name):
            raise FileNotFoundError(f"{name}: no such file ({cls.directory_kind} directory "
                                    f"holds {PREPROCESSOR_CONFIG})")
        return cls.from_dict(read_json(name), name)

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write preprocessor_config.json into the directory ``path`` (made if missing)."""
        os.makedirs(os.fspath(path), exist_ok=True)
        _atomic_write(os.path.join(os.fspath(path), PREPROCESSOR_CONFIG),
                      (json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
                      .encode("utf-8"))


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every weight of the checkpoint directory ``path``, name -> float array, from
    safetensors (one file or shards) or, failing that, ``pytorch_model.bin`` (or its shards)."""
    directory = _directory(path)
    for index, reader in ((SAFETENSORS_INDEX, _read_safetensors), (TORCH_BIN_INDEX, _read_bin)):
        name = os.path.join(directory, index)
        if os.path.exists(name):
            state: dict[str, np.ndarray] = {}
            for shard in sorted(set(_index(name).values())):
                state.update(reader(os.path.join(directory, shard)))
            return state
    for single, reader in ((SAFETENSORS, _read_safetensors), (TORCH_BIN, _read_bin)):
        name = os.path.join(directory, single)
        if os.path.exists(name):
            return reader(name)
    raise FileNotFoundError(f"{directory}: no weights ({SAFETENSORS}, {SAFETENSORS_INDEX}, "
                            f"{TORCH_BIN} or {TORCH_BIN_INDEX})")


def write_pretrained(path: str | os.PathLike, config: dict, state: dict) -> None:
    """Write ``config.json`` and ``model.safetensors`` into the directory ``path`` (made if
    missing), each atomically (a temporary file renamed into place)."""
    from dlpy.utils.safetensors import save

    directory = os.fspath(path)
    os.makedirs(directory, exist_ok=True)
    arrays = {key: np.asarray(value.data if isinstance(value, Tensor) else value, order="C")
              for key, value in state.items()}
    _atomic_write(os.path.join(directory, CONFIG),
                  (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    _atomic_write(os.path.join(directory, SAFETENSORS), save(arrays, metadata={"format": "pt"}))


def _directory(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"from_pretrained: expected the path of a local checkpoint directory, got "
                        f"{type(path).__name__} (dlpy downloads nothing)")
    directory = os.fspath(path)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{directory}: no such directory (dlpy downloads nothing: give "
                                f"a local checkpoint directory)")
    return directory


def _index(name: str) -> dict[str, str]:
    try:
        with open(name, encoding="utf-8") as handle:
            weight_map = json.load(handle)["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{name}: not a shard index with a weight_map ({err!r})") from None
    if not isinstance(weight_map, dict):
        raise ValueError(f"{name}: weight_map must be an object")
    return weight_map


def _read_safetensors(name: str) -> dict[str, np.ndarray]:
    from dlpy.utils.safetensors import load_file

    return {key: value.data for key, value in load_file(name).items()}


def _read_bin(name: str) -> dict[str, np.ndarray]:
    from dlpy.serialization import load

    state = load(name)
    if not isinstance(state, dict):
        raise ValueError(f"{name}: expected a state dict, got {type(state).__name__}")
    return {key: np.asarray(value.data if isinstance(value, Tensor) else value)
            for key, value in state.items()}


def _atomic_write(name: str, payload: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(name) or ".",
                                         prefix=os.path.basename(name) + ".")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, name)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
