"""Stock tritonclient.grpc against the gateway, in a subprocess (see triton_probe.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

PROBE = Path(__file__).with_name("triton_probe.py")

# find_spec, not importorskip: importing tritonclient here would clash with gateway._pb.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tritonclient") is None,
    reason="install the test extra: tritonclient[grpc]",
)


async def probe(url: str, model: str, x: np.ndarray, tmp_path: Path) -> dict:
    """Run triton_probe.py without blocking the event loop the server runs on."""
    rows = tmp_path / "rows.npy"
    np.save(rows, x)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PROBE),
        url,
        model,
        str(rows),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, stderr.decode()
    return json.loads(stdout)


async def test_tritonclient_classifier_calls_match_onnxruntime(gateway, models, tmp_path):
    trained = models["direction"]
    x = trained.X[:8]
    seen = await probe(f"127.0.0.1:{gateway.port}", "direction", x, tmp_path)
    assert (seen["live"], seen["ready"], seen["model_ready"]) == (True, True, True)
    assert seen["unknown_model_ready"] is False
    assert seen["server"]["name"] == "galgate"
    metadata = seen["metadata"]
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (
        "direction",
        ["1.0.0"],
        "onnxruntime_onnx",
    )
    assert metadata["inputs"] == [{"name": "input", "datatype": "FP32", "shape": ["-1", "4"]}]
    assert [o["name"] for o in metadata["outputs"]] == ["label", "probabilities"]
    response = seen["response"]
    assert (response["model_name"], response["model_version"], response["id"]) == (
        "direction",
        "1.0.0",
        "triton-1",
    )
    assert response["parameters"]["galgate_arm"] == {"string_param": "production"}
    assert seen["dtypes"] == {"label": "int64", "probabilities": "float32"}
    expected = trained.expected(x)
    np.testing.assert_array_equal(np.array(seen["outputs"]["label"]), expected["label"])
    np.testing.assert_array_equal(
        np.array(seen["outputs"]["probabilities"], dtype=np.float32), expected["probabilities"]
    )


async def test_tritonclient_regressor_infer_matches_onnxruntime(gateway, models, tmp_path):
    trained = models["returns"]
    x = trained.X[:5]
    seen = await probe(f"127.0.0.1:{gateway.port}", "returns", x, tmp_path)
    assert seen["dtypes"] == {"variable": "float32"}
    np.testing.assert_array_equal(
        np.array(seen["outputs"]["variable"], dtype=np.float32), trained.expected(x)["variable"]
    )
