"""Call a gateway with stock tritonclient.grpc and print what it saw as JSON (run as a script).

tritonclient's generated modules register the same ``inference`` protobuf package as
gateway._pb, so this runs in its own process: ``python triton_probe.py URL MODEL ROWS.npy``.
"""

from __future__ import annotations

import json
import sys


def main(url: str, model: str, rows_path: str) -> None:
    """Run every v2 call tritonclient users make and print the results."""
    import numpy as np
    import tritonclient.grpc as triton

    x = np.load(rows_path)
    client = triton.InferenceServerClient(url)
    metadata = client.get_model_metadata(model, as_json=True)
    inputs = [triton.InferInput("input", list(x.shape), "FP32")]
    inputs[0].set_data_from_numpy(x)
    result = client.infer(model, inputs, request_id="triton-1")
    response = result.get_response(as_json=True)
    names = [o["name"] for o in response["outputs"]]
    print(
        json.dumps(
            {
                "live": client.is_server_live(),
                "ready": client.is_server_ready(),
                "model_ready": client.is_model_ready(model),
                "unknown_model_ready": client.is_model_ready("no-such-model"),
                "server": client.get_server_metadata(as_json=True),
                "metadata": metadata,
                "response": {k: v for k, v in response.items() if k != "raw_output_contents"},
                "outputs": {name: result.as_numpy(name).tolist() for name in names},
                "dtypes": {name: str(result.as_numpy(name).dtype) for name in names},
            }
        )
    )
    client.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
