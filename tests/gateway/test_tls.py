"""TLS: the gateway serves over TLS when given a certificate and key."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest

from gateway._pb.galgate.v1 import prediction_pb2 as pb
from gateway._pb.galgate.v1 import prediction_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture
def certificate(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_predict_over_tls_and_plaintext_client_fails(served, trained, certificate):
    cert, key = certificate
    settings = Settings(listen="127.0.0.1:0", tls_cert=str(cert), tls_key=str(key))
    gw = build_server(settings, served)
    await gw.start()
    try:
        request = pb.PredictRequest(
            model="clf", tensor=pb.FloatTensor(rows=1, data=trained.X[0].tobytes())
        )
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        async with grpc.aio.secure_channel(f"localhost:{gw.port}", credentials) as channel:
            reply = await prediction_pb2_grpc.PredictionServiceStub(channel).Predict(request)
            assert reply.version == "1.0.0"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{gw.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await prediction_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=3)
            assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    finally:
        await gw.stop(grace=0)


def test_tls_cert_without_key_is_a_config_error():
    from gateway.config import ConfigError

    with pytest.raises(ConfigError, match="together"):
        Settings(tls_cert="cert.pem")
