"""Run a configured trainer (``"module:function"``) in a separate, spawned process.

The gateway process runs gRPC and onnxruntime threads, so forking it is unsafe: the
trainer runs in a child started with the ``spawn`` method (a fresh interpreter that
inherits no event loop, lock or thread). The request goes to the child pickled, and the
result comes back pickled over a one-way pipe. The trainer module is imported in the
child only, so a heavy training library never loads into the gateway (the fitted
estimator's own classes do, when its result is unpickled for conversion). The result is
trusted as much as the configured trainer code is: it is our own child's answer, never
a client's upload.

The parent never blocks its event loop: it waits on the pipe and on the child's exit
sentinel with ``loop.add_reader``, under the time limit and the cancel event. At the time
limit, on cancellation (the event, or the awaiting task cancelled) and on every other way
out, the child is stopped: SIGTERM, then SIGKILL after ``STOP_GRACE`` seconds, and reaped.
The child runs at a lower CPU priority (``CHILD_NICENESS``) so serving keeps the cores it
needs, ignores SIGINT (the parent decides when it stops), and exits by itself if the
gateway process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import multiprocessing
import os
import pickle
import re
import signal
import threading
import time
import traceback
from typing import Any

from gateway.brief import brief
from gateway.errors import (
    RetrainingCancelledError,
    TrainerConfigError,
    TrainerError,
    TrainerTimeoutError,
)
from gateway.retraining.request import TrainingRequest, TrainingResult

#: ``package.module:function`` (the function may be a dotted attribute path).
SPEC_PATTERN = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
MAX_SPEC_CHARS = 256
#: The remote traceback kept in a TrainerError (its tail: the raising frames).
MAX_TRACEBACK_CHARS = 4096
#: The largest pickled result accepted from the child.
MAX_RESULT_BYTES = 512 * 1024 * 1024
#: Seconds between SIGTERM and SIGKILL when the child must stop.
STOP_GRACE = 2.0
CHILD_NICENESS = 10
_PARENT_CHECK_SECONDS = 1.0


def parse_spec(spec: object) -> tuple[str, str]:
    """Split a trainer spec into (module, attribute path), checking its syntax only.

    >>> parse_spec("tests.retraining.trainers:good")
    ('tests.retraining.trainers', 'good')
    >>> parse_spec("no_colon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gateway.errors.TrainerConfigError: trainer spec 'no_colon' is not "module:function"...

    Raises:
        TrainerConfigError: not a string of the form ``module:function``.
    """
    if not isinstance(spec, str) or len(spec) > MAX_SPEC_CHARS or not SPEC_PATTERN.fullmatch(spec):
        raise TrainerConfigError(
            f'trainer spec {brief(spec)} is not "module:function" (dotted Python names, '
            f'at most {MAX_SPEC_CHARS} characters), e.g. "gateway.retraining.demo_trainer:train"'
        )
    module, attribute = spec.split(":")
    return module, attribute


def check_spec(spec: object) -> tuple[str, str]:
    """:func:`parse_spec`, plus: the spec's top-level package exists (found without
    importing anything; the module itself is imported in the child only).

    Raises:
        TrainerConfigError: a bad spec, or no such top-level package.
    """
    module, attribute = parse_spec(spec)
    top = module.split(".")[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise TrainerConfigError(f"trainer spec {brief(spec)}: no module named {top!r}")
    return module, attribute


async def run_trainer(
    spec: str,
    request: TrainingRequest,
    *,
    timeout: float,
    cancel: asyncio.Event | None = None,
) -> TrainingResult:
    """Call the trainer ``spec`` names on ``request`` in a spawned process.

    Args:
        spec: ``"module:function"``; ``function(request)`` returns a fitted estimator
            or a :class:`TrainingResult`.
        request: what the trainer gets.
        timeout: seconds the child may take, from its start (interpreter start-up and
            imports included) to its answer.
        cancel: when set, the child is stopped and the call raises.

    Returns:
        The trainer's result (a bare estimator is wrapped in a TrainingResult).

    Raises:
        TrainerConfigError: a bad spec, a module that does not import, or an attribute
            that is missing or not callable.
        TrainerError: the trainer raised (``remote_traceback`` has the child's
            traceback, bounded), returned something that is not a fitted estimator, or
            its process died without an answer.
        TrainerTimeoutError: no answer within ``timeout``; the child was stopped.
        RetrainingCancelledError: ``cancel`` was set; the child was stopped.
    """
    check_spec(spec)
    if not isinstance(timeout, int | float) or not 0 < timeout < float("inf"):
        raise TrainerConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if cancel is not None and cancel.is_set():
        raise RetrainingCancelledError(f"retraining with trainer {brief(spec)} was cancelled")
    payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child_main,
        args=(spec, payload, sender, os.getpid()),
        name="galgate-trainer",
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + float(timeout)
    started = threading.Event()

    def start() -> None:
        try:
            process.start()
        finally:
            started.set()

    try:
        # Starting writes the pickled request to the child as it boots: off the loop, and
        # shielded, so a cancelled caller still leaves a started child for _stop to end.
        await asyncio.shield(loop.run_in_executor(None, start))
        sender.close()  # the child holds the only write end: EOF when it dies
        message = await _await_answer(process, receiver, deadline, cancel, spec, timeout)
    finally:
        await asyncio.shield(asyncio.to_thread(_stop, process, started, sender))
        receiver.close()
    exitcode = process.exitcode
    process.close()
    return _decode(spec, message, exitcode)


async def _await_answer(
    process: Any,
    receiver: Any,
    deadline: float,
    cancel: asyncio.Event | None,
    spec: str,
    timeout: float,
) -> bytes | None:
    """The child's message, or None when it exited without one."""
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    fds = (receiver.fileno(), process.sentinel)

    def readable() -> None:
        for fd in fds:  # level-triggered: stop watching at once, or this spins
            loop.remove_reader(fd)
        ready.set()

    for fd in fds:
        loop.add_reader(fd, readable)
    waits = [asyncio.ensure_future(ready.wait())]
    if cancel is not None:
        waits.append(asyncio.ensure_future(cancel.wait()))
    try:
        await asyncio.wait(waits, timeout=deadline - loop.time(), return_when="FIRST_COMPLETED")
    finally:
        for fd in fds:
            loop.remove_reader(fd)
        for waiter in waits:
            waiter.cancel()
    if cancel is not None and cancel.is_set():
        raise RetrainingCancelledError(f"retraining with trainer {brief(spec)} was cancelled")
    if not ready.is_set():
        raise TrainerTimeoutError(spec, timeout)
    if not receiver.poll(0):
        return None  # exited without a word
    # The child is sending (or has sent) its answer; a big one takes a moment to read.
    # Stopping the child on time-out closes the pipe, which ends the read with EOF.
    read = asyncio.ensure_future(asyncio.to_thread(_receive, receiver))
    done, _ = await asyncio.wait([read], timeout=max(deadline - loop.time(), 0.0))
    if not done:
        await asyncio.to_thread(_stop, process)
        with contextlib.suppress(Exception):
            await read
        raise TrainerTimeoutError(spec, timeout)
    return read.result()


def _receive(receiver: Any) -> bytes | None:
    try:
        return receiver.recv_bytes(MAX_RESULT_BYTES)
    except EOFError:
        return None
    except OSError as exc:  # over MAX_RESULT_BYTES, or the pipe broke
        raise TrainerError(f"the trainer's result could not be read: {exc}") from exc


def _stop(process: Any, started: threading.Event | None = None, sender: Any = None) -> None:
    """Stop and reap the child (blocking): once its start is over, wait briefly in case
    it is finishing on its own, then SIGTERM, then SIGKILL."""
    if started is not None:
        started.wait()
    if sender is not None:
        sender.close()
    if process.pid is None:  # never started
        return
    process.join(0.2)
    if process.is_alive():
        process.terminate()
        process.join(STOP_GRACE)
    if process.is_alive():
        process.kill()
        process.join()


def _decode(spec: str, message: bytes | None, exitcode: int | None) -> TrainingResult:
    if message is None:
        raise TrainerError(
            f"trainer {brief(spec)}: its process exited (code {exitcode}) without an answer"
        )
    try:
        kind, body = pickle.loads(message)
    except Exception as exc:  # e.g. the estimator's class does not import here
        raise TrainerError(
            f"trainer {brief(spec)}: its result cannot be unpickled in the gateway "
            f"({type(exc).__name__}: {brief(str(exc), 200)})"
        ) from exc
    if kind == "ok":
        return body
    if kind == "config":
        raise TrainerConfigError(f"trainer spec {brief(spec)}: {body}")
    if kind == "invalid":
        raise TrainerError(f"trainer {brief(spec)} {body}")
    last = body.strip().splitlines()[-1] if body.strip() else "an exception"
    raise TrainerError(f"trainer {brief(spec)} raised {brief(last, 300)}", body)


# -- in the child ---------------------------------------------------------------------


def bounded_traceback(text: str, limit: int = MAX_TRACEBACK_CHARS) -> str:
    """The tail of a traceback (where it raised), at most about ``limit`` characters.

    >>> bounded_traceback("x" * 10, limit=4)
    '… (6 characters cut)\\nxxxx'
    """
    if len(text) <= limit:
        return text
    return f"… ({len(text) - limit} characters cut)\n{text[-limit:]}"


def _resolve(spec: str) -> Any:
    """The callable ``spec`` names; raises LookupError with the reason."""
    module_name, attribute = spec.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except BaseException as exc:  # any import failure is a config error
        raise LookupError(
            f"module {module_name!r} cannot be imported ({type(exc).__name__}: {exc})"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise LookupError(f"module {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise LookupError(f"{attribute!r} is a {type(target).__name__}, not callable")
    return target


def _as_result(value: Any) -> TrainingResult | str:
    """The trainer's return value as a TrainingResult, or why it is not acceptable."""
    result = value if isinstance(value, TrainingResult) else TrainingResult(estimator=value)
    if not callable(getattr(result.estimator, "predict", None)):
        return (
            f"returned {brief(result.estimator, 120)} ({type(result.estimator).__name__}); "
            "expected a fitted estimator (with predict) or a TrainingResult"
        )
    return result


def _watch_parent(parent: int) -> None:
    """Exit when the gateway process is gone (its children are reparented)."""

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(spec: str, payload: bytes, sender: Any, parent: int) -> None:
    """The child's body: resolve, call, answer with one pickled message, exit."""
    _watch_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICENESS)
    try:
        function = _resolve(spec)
    except LookupError as exc:
        message = ("config", str(exc))
    else:
        try:
            answer = _as_result(function(pickle.loads(payload)))
            message = ("invalid", answer) if isinstance(answer, str) else ("ok", answer)
        except BaseException:  # every failure goes back to the parent
            message = ("raised", bounded_traceback(traceback.format_exc()))
    try:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # an unpicklable estimator
        data = pickle.dumps(("invalid", f"returned a result that cannot be pickled: {exc}"))
    sender.send_bytes(data)
    sender.close()
