"""``torch.torch_version``: TorchVersion, the ``str`` that ``torch.__version__`` is. It compares
as a version (PEP 440), not letter by letter: ``"2.13.0" >= "2.2"`` is True, and so is
``__version__ >= (2, 1)``; a string that is not a version compares as a plain string."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TorchVersion"]

_PATTERN = re.compile(r"v?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|rc|alpha|beta|c)[-_.]?(\d*))?"
                      r"(?:[-_.]?post[-_.]?(\d*))?(?:[-_.]?dev[-_.]?(\d*))?(?:\+([a-z0-9.]+))?")
_PRE = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "rc": 2}
_INF = float("inf")


def _key(text: str) -> tuple:
    """What a PEP 440 version sorts by: the release (trailing zeros dropped), the pre-release
    (none sorts after all; a dev-only release before), post, dev and local segments."""
    match = _PATTERN.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"invalid version: {text!r}")
    release, pre, pre_n, post, dev, local = match.groups()
    numbers = [int(part) for part in release.split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    if pre is not None:
        pre_key = (_PRE[pre], int(pre_n or 0))
    else:
        pre_key = (-_INF,) if dev is not None and post is None else (_INF,)
    post_key = -_INF if post is None else int(post or 0)
    dev_key = _INF if dev is None else int(dev or 0)
    local_key = () if local is None else tuple(
        (int(part), "") if part.isdigit() else (-_INF, part) for part in local.split("."))
    return tuple(numbers), pre_key, post_key, dev_key, local_key


def _other_key(other) -> tuple:
    if isinstance(other, str):
        return _key(other)
    if isinstance(other, Iterable):  # (2, 1) -> "2.1"
        return _key(".".join(str(item) for item in other))
    # anything else (packaging's Version too: torch's knows only its vendored copy's) compares
    # as a string would, which refuses
    raise ValueError(f"not a version: {other!r}")


class TorchVersion(str):
    """A version string that compares with strings, tuples and packaging's Version."""

    __slots__ = ()

    def _compare(self, other, method: str) -> bool:
        try:
            mine, theirs = _key(self), _other_key(other)
        except ValueError:  # not a version ('parrot'): compare as strings
            return getattr(str, method)(self, other)
        return getattr(mine, method)(theirs)

    def __eq__(self, other) -> bool:
        return self._compare(other, "__eq__")

    def __lt__(self, other) -> bool:
        return self._compare(other, "__lt__")

    def __le__(self, other) -> bool:
        return self._compare(other, "__le__")

    def __gt__(self, other) -> bool:
        return self._compare(other, "__gt__")

    def __ge__(self, other) -> bool:
        return self._compare(other, "__ge__")

    __hash__ = str.__hash__
