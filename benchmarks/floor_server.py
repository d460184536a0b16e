"""The floor: the least any Python gRPC server can do to serve one ONNX model.

A bare ``grpc.aio`` server implementing ``galgate.v1.PredictionService`` ``Predict`` and
``PredictStream`` for ONE model: decode ``tensor.data`` with ``np.frombuffer``, run the
session, build the same ``PredictResponse`` the gateway builds (labels, probabilities,
class_labels, a counter-based prediction_id, model, version, arm). And the Open Inference
Protocol's ``ModelInfer`` the same way: ``raw_input_contents[0]`` in, the label and
probability tensors as raw contents out, with the arm and prediction id parameters. No
routing, no interceptor, no validation beyond what decoding needs, the gateway's session
options (``converters.load_session``: one intra-op thread, no spinning) and its default
asyncio loop.

It assumes what the benchmark model gives: a classifier whose label output already is
the index into ``class_labels`` (labels 0..C-1, or string labels), or a regressor.

Usage: python -m benchmarks.floor_server --model-file model.onnx --listen 127.0.0.1:0
(prints "floor serving on 127.0.0.1:PORT", runs until SIGTERM/SIGINT)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np

from converters import load_session, validate_onnx
from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc as pb_grpc
from gateway._pb.inference import grpc_predict_v2_pb2 as oip
from gateway._pb.inference import grpc_predict_v2_pb2_grpc as oip_grpc


class FloorServicer(pb_grpc.PredictionServiceServicer, oip_grpc.GRPCInferenceServiceServicer):
    """Predict/PredictStream and ModelInfer for one model, with nothing between the wire and
    the session."""

    def __init__(self, onnx_bytes: bytes, model: str, version: str) -> None:
        signature = validate_onnx(onnx_bytes)
        self._run = load_session(onnx_bytes).run
        self._input = signature.input_name
        self._n_features = signature.n_features
        self._classifier = signature.task == "classification"
        if self._classifier:
            self._outputs = [signature.label_output, signature.probability_output]
        else:
            self._outputs = [signature.value_output]
        self._class_labels = [str(c) for c in signature.class_labels]
        self._model = model
        self._version = version
        self._prefix = os.urandom(6).hex()
        self._ids = itertools.count(1)

    def _predict(self, request: pb.PredictRequest) -> pb.PredictResponse:
        tensor = request.tensor
        x = np.frombuffer(tensor.data, dtype="<f4").reshape(tensor.rows, self._n_features)
        result = self._run(self._outputs, {self._input: x})
        if self._classifier:
            outputs = {
                "labels": result[0].tolist(),
                "probabilities": result[1].ravel().tolist(),
                "class_labels": self._class_labels,
            }
        else:
            outputs = {"values": result[0].reshape(-1).tolist()}
        return pb.PredictResponse(
            prediction_id=f"{self._prefix}-{next(self._ids)}",
            model=self._model,
            version=self._version,
            arm="production",
            rows=tensor.rows,
            request_id=request.request_id,
            **outputs,
        )

    async def Predict(self, request, context):
        return self._predict(request)

    async def PredictStream(
        self, request_iterator: AsyncIterator[pb.PredictRequest], context
    ) -> AsyncIterator[pb.PredictResponse]:
        async for request in request_iterator:
            yield self._predict(request)

    async def ModelInfer(self, request, context):
        shape = request.inputs[0].shape
        x = np.frombuffer(request.raw_input_contents[0], dtype="<f4").reshape(
            shape[0], self._n_features
        )
        result = self._run(self._outputs, {self._input: x})
        response = oip.ModelInferResponse(
            model_name=self._model, model_version=self._version, id=request.id
        )
        response.parameters["galgate_arm"].string_param = "production"
        if self._classifier:
            labels, probabilities = result
            response.outputs.add(name=self._outputs[0], datatype="INT64", shape=[shape[0]])
            response.raw_output_contents.append(np.asarray(labels, dtype="<i8").tobytes())
            response.outputs.add(
                name=self._outputs[1], datatype="FP32", shape=list(probabilities.shape)
            )
            response.raw_output_contents.append(probabilities.astype("<f4").tobytes())
        else:
            response.outputs.add(name=self._outputs[0], datatype="FP32", shape=[shape[0], 1])
            response.raw_output_contents.append(result[0].astype("<f4").tobytes())
        response.parameters[
            "galgate_prediction_id"
        ].string_param = f"{self._prefix}-{next(self._ids)}"
        return response


async def serve(model_file: Path, listen: str, model: str, version: str) -> None:
    """Serve the model until SIGTERM/SIGINT; prints the bound port first."""
    server = grpc.aio.server()
    servicer = FloorServicer(model_file.read_bytes(), model, version)
    pb_grpc.add_PredictionServiceServicer_to_server(servicer, server)
    oip_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port(listen)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"floor serving on {listen.rpartition(':')[0]}:{port}", flush=True)
    await stop.wait()
    await server.stop(1.0)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-file", type=Path, required=True, help="the .onnx file")
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT")
    parser.add_argument("--model", default="bench", help="model name echoed in responses")
    parser.add_argument("--version", default="1.0.0", help="version echoed in responses")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.model_file, args.listen, args.model, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
