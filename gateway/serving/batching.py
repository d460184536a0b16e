"""Limits on one request's rows, and running big or slow batches off the event loop.

A request of many rows, or a version whose one-row run is slow, would hold the event
loop for every other caller. Such runs go to a thread (onnxruntime releases the GIL and
its sessions are thread-safe); everything around them (routing, the log, metrics) stays
on the loop. A run that finishes after the caller's deadline is not answered or logged.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from gateway.errors import DeadlineExceededError, InvalidInputError, PayloadTooLargeError
from gateway.serving.model import LoadedModel, Outputs

# Bytes a response may need besides its rows: ids, names, class labels, framing.
_RESPONSE_OVERHEAD = 4096


def response_bytes(rows: int, model: LoadedModel) -> int:
    """An upper bound on the encoded size of the answer to ``rows`` rows (either door)."""
    n_classes = len(model.class_labels)
    if n_classes:
        # a label (varint or int64) and one float32 probability per class, per row
        per_row = 10 + 8 * n_classes
        labels = sum(len(label) + 4 for label in model.class_labels)
    else:
        per_row, labels = 10, 0
    return _RESPONSE_OVERHEAD + labels + rows * per_row


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """How many rows a request may carry, and which runs leave the event loop.

    Attributes:
        max_rows: most rows per request (INVALID_ARGUMENT beyond).
        offload_rows: requests of more rows run in a thread.
        max_response_bytes: the server's send limit; a request whose answer could not
            be sent is refused before its model runs (and before anything is logged).
    """

    max_rows: int
    offload_rows: int
    max_response_bytes: int

    def check(self, rows: int, model: LoadedModel) -> None:
        """Refuse a batch that is too big to take or to answer.

        Raises:
            InvalidInputError: more than ``max_rows`` rows.
            PayloadTooLargeError: the answer could exceed ``max_response_bytes``.
        """
        if rows > self.max_rows:
            raise InvalidInputError(
                f"the request has {rows} rows; at most {self.max_rows} are allowed per request "
                "(max_batch_rows): split it"
            )
        size = response_bytes(rows, model)
        if size > self.max_response_bytes:
            raise PayloadTooLargeError(
                f"the answer to {rows} rows could take {size} bytes, over the gateway's "
                f"{self.max_response_bytes}-byte message limit: send fewer rows per request"
            )

    def offloads(self, rows: int, model: LoadedModel) -> bool:
        """Whether this run belongs in a thread."""
        return rows > self.offload_rows or model.slow


async def run_off_loop(model: LoadedModel, x: np.ndarray, context) -> Outputs:
    """Run ``model`` on ``x`` in a thread, honouring the caller's deadline.

    Raises:
        DeadlineExceededError: the deadline had passed before the run, or passed during
            it (the answer is then neither sent nor logged).
        ModelOutputError: see ``LoadedModel.run``.
    """
    if _past_deadline(context):
        raise DeadlineExceededError("the caller's deadline passed before the model ran")
    outputs = await asyncio.to_thread(model.run, x)
    if _past_deadline(context):
        raise DeadlineExceededError(
            f"model {model.name!r} version {model.version!r} answered after the caller's "
            "deadline; the answer was discarded and not logged"
        )
    return outputs


def _past_deadline(context) -> bool:
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0
