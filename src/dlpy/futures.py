"""torch.futures: ``Future``, a result that is set later, and ``collect_all`` / ``wait_all``.

dlpy runs everything in the calling thread, so a Future here is a plain eager container:
``set_result`` / ``set_exception`` complete it and run its callbacks at once (in the order
they were added); a callback added to a completed Future runs immediately. ``then(callback)``
gives a new Future completed with ``callback(this_future)`` (or, when the callback raises,
with a RuntimeError naming the error, as torch's). ``wait()`` / ``value()`` give the result or
raise the exception set; on a Future nothing completed they raise RuntimeError (torch's
``wait`` would block for another thread: there is none to wait for here).
``torch.jit.fork`` returns completed Futures of this class.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Future", "collect_all", "wait_all"]

_COMPLETED_TWICE = ("Attempting to mark a completed Future as complete again. Note that a "
                    "Future can only be marked completed once.")


T = TypeVar("T")


class Future(Generic[T]):
    """A value or an exception that is set once, with callbacks run when it is
    (``devices`` is accepted for torch's signature; dlpy has only the CPU). Generic like
    torch's, so annotations such as ``Future[Tensor]`` evaluate."""

    def __init__(self, *, devices: list | None = None) -> None:
        self._done = False
        self._result: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Future], Any]] = []

    def done(self) -> bool:
        """Whether a result or an exception is set."""
        return self._done

    def wait(self) -> Any:
        """The result (the exception set is raised)."""
        if not self._done:
            raise RuntimeError("Future.wait: this Future is not completed, and dlpy has no other "
                               "thread that could complete it (call set_result first)")
        if self._error is not None:
            raise self._error
        return self._result

    def value(self) -> Any:
        """The result of a completed Future (the exception set is raised)."""
        if not self._done:
            raise RuntimeError("Future.value: this Future is not completed")
        return self.wait()

    def then(self, callback: Callable[[Future], Any]) -> Future:
        """A new Future, completed with ``callback(self)`` once this one completes; an error
        in the callback completes it with a RuntimeError naming that error."""
        child = Future()

        def run(future: Future) -> None:
            try:
                result = callback(future)
            except Exception as error:
                child.set_exception(RuntimeError(
                    "Got the following error when running the callback: "
                    f"{type(error).__name__}: {error}"))
            else:
                child.set_result(result)

        self.add_done_callback(run)
        return child

    def add_done_callback(self, callback: Callable[[Future], Any]) -> None:
        """Run ``callback(self)`` when this Future completes (now, if it has). Its return
        value is ignored and an error it raises is reported on stderr, not raised."""
        if self._done:
            self._call(callback)
        else:
            self._callbacks.append(callback)

    def set_result(self, result: Any) -> None:
        """Complete the Future with ``result`` and run its callbacks (RuntimeError when it is
        completed already)."""
        self._complete(result, None)

    def set_exception(self, result: BaseException) -> None:
        """Complete the Future with an exception, which ``wait`` and ``value`` raise
        (AssertionError for anything but an Exception, as torch's)."""
        if not isinstance(result, Exception):
            raise AssertionError(f"{result} is of type {type(result)}, not an Exception.")
        self._complete(None, result)

    def _complete(self, result: Any, error: BaseException | None) -> None:
        if self._done:
            raise RuntimeError(_COMPLETED_TWICE)
        self._done, self._result, self._error = True, result, error
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._call(callback)

    def _call(self, callback: Callable[[Future], Any]) -> None:
        try:
            callback(self)
        except Exception as error:  # as torch's: logged, the Future stays completed
            print(f"Got the following error when running the callback: "
                  f"{type(error).__name__}: {error}", file=sys.stderr)


def collect_all(futures: list[Future]) -> Future:
    """A Future completed with the list ``futures`` once all of them are (with the first
    exception among them, if one completed with an exception)."""
    futures = list(futures)
    for future in futures:
        if not isinstance(future, Future):
            raise TypeError(f"collect_all: expected a list of Futures, got "
                            f"{type(future).__name__}")
    combined = Future()
    remaining = [len(futures)]

    def one_done(_: Future) -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            error = next((f._error for f in futures if f._error is not None), None)
            if error is not None:
                combined.set_exception(error)
            else:
                combined.set_result(futures)

    if not futures:
        combined.set_result([])
    for future in futures:
        future.add_done_callback(one_done)
    return combined


def wait_all(futures: list[Future]) -> list:
    """The results of ``futures``, in order (an exception one of them holds is raised)."""
    return [future.wait() for future in collect_all(futures).wait()]
