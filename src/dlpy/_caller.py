"""The first frame outside dlpy: where a warning about a user's call should point.

A fixed ``stacklevel`` counts dlpy's own frames between the warning and the user's call, and
that count changes with the wrappers a call may pass through (autocast's policy, torch-function
dispatch once a Tensor subclass overrides it, the numpy keyword aliases). ``user_stacklevel()``
walks the stack instead: the warning names the line of the first caller whose code is not in
the dlpy package.

``package`` narrows what is skipped to part of dlpy (a folder or file, relative to dlpy's
folder, or several of them), for a warning about a public function that dlpy's own code calls
too: the warning then names the line that called that function, as torch's Python-level
warnings (``stacklevel=2`` there) do: ``F.mse_loss(a, b)`` warns at the user's line,
``nn.MSELoss()(a, b)`` at the layer's forward (torch: torch/nn/modules/loss.py). The call
wrappers (dispatch, autocast's policy, the numpy aliases) are skipped either way.
"""

from __future__ import annotations

import os
import sys

_DLPY = os.path.dirname(os.path.abspath(__file__))
# the files of the wrappers a public call may pass through: never the line a warning names
_WRAPPERS = frozenset(os.path.join(_DLPY, name) for name in (
    "overrides.py", "numpy_aliases.py", os.path.join("amp", "state.py")))


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    return any(path == f or path.startswith(f + os.sep) for f in folders)


def user_stacklevel(package: str | tuple[str, ...] | None = None) -> int:
    """``warnings.warn``'s stacklevel, for a call from the function that warns, of the first
    frame outside ``package`` (dlpy's folder by default; else folders or files, relative to
    dlpy's folder) and outside dlpy's call wrappers."""
    if package is None:
        inside: tuple[str, ...] = (_DLPY,)
    else:
        names = (package,) if isinstance(package, str) else tuple(package)
        inside = tuple(os.path.join(_DLPY, name.rstrip("/" + os.sep)) for name in names)
    frame, level = sys._getframe(2), 2  # the caller of the function calling this: level 2
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        if not (_inside(path, inside) or path in _WRAPPERS):
            return level
        frame, level = frame.f_back, level + 1
    return level
