"""Several processes (``torchrun``): work done on the main process alone while the others wait for its result
or its error, and printing once."""

from __future__ import annotations

import contextlib
import io
import pickle
from collections.abc import Callable
from typing import TypeVar

from accelerate import Accelerator
from accelerate.utils import broadcast_object_list

T = TypeVar("T")


class MainProcessError(RuntimeError):
    """An error of the main process of a distributed run that could not be sent as it was (it does not
    pickle): its type and message, raised on the other processes."""


def sendable_error(error: Exception) -> Exception:
    """``error`` as it can be sent to the other processes: itself when it survives pickling, else a
    :class:`MainProcessError` with its type and message."""
    try:
        copy = pickle.loads(pickle.dumps(error))
        if type(copy) is type(error) and str(copy) == str(error):
            return copy
    except Exception:  # noqa: BLE001 - any failure to pickle or rebuild it: send its type and message
        pass
    return MainProcessError(f"{type(error).__name__}: {error}")


def on_main_process(accelerator: Accelerator, work: Callable[[], T]) -> T:
    """``work()`` on the main process only, its result (or its error) sent to the others, which wait for it;
    an error is raised on every process, so that all stop together with the same message (without it the
    others wait in the broadcast, then stop on a broken connection or are killed by ``torchrun``)."""
    if accelerator.num_processes == 1:
        return work()
    outcome: list = [None]
    failure = None
    if accelerator.is_main_process:
        try:
            outcome = [(True, work())]
        except Exception as error:  # noqa: BLE001 - whatever stops the main process stops them all
            failure = error
            outcome = [(False, sendable_error(error))]
    broadcast_object_list(outcome, from_process=0)
    succeeded, value = outcome[0]
    if succeeded:
        return value
    accelerator.wait_for_everyone()  # every process has the error before any stops (torchrun kills the rest)
    if failure is not None:
        raise failure
    value.add_note(f"raised on the main process; process {accelerator.process_index} stopped with it")
    raise value


def printing_once(accelerator: Accelerator) -> contextlib.AbstractContextManager:
    """On every process but the main one, what is printed goes nowhere (tables and banners once, as
    ``accelerator.print`` does; errors and warnings, on stderr, still show)."""
    if accelerator.is_main_process:
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(io.StringIO())
