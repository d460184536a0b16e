"""ListModels pages: every reply fits the message limit, and following next_page_token
lists every version of every model exactly once."""

from __future__ import annotations

import grpc
import pytest

from gateway._pb.galgate.v1 import admin_pb2 as apb
from gateway._pb.galgate.v1 import admin_pb2_grpc
from gateway.config import Settings
from gateway.server.app import build_server
from tests.cli.conftest import galgate
from tests.helpers import fake_artifact, make_spec

LIMIT = 96 * 1024


@pytest.fixture
async def address(sqlite_registry):
    # 6 models of 4 versions, each version carrying ~9 KB of hyperparameters.
    for m in range(6):
        for v in range(4):
            spec = make_spec(hyperparameters={"blob": f"{m}{v}" + "h" * 9000})
            await sqlite_registry.register_version(f"model-{m}", spec, fake_artifact(), actor="t")
    gw = build_server(Settings(listen="127.0.0.1:0", max_message_bytes=LIMIT), sqlite_registry)
    await gw.start()
    yield f"127.0.0.1:{gw.port}"
    await gw.stop(grace=0)


@pytest.fixture
async def admin(address):
    async with grpc.aio.insecure_channel(address) as channel:
        yield admin_pb2_grpc.ModelAdminStub(channel)


async def _walk(admin, page_size: int = 0) -> tuple[list[tuple[str, str]], int]:
    seen, pages, token = [], 0, ""
    while True:
        reply = await admin.ListModels(apb.ListModelsRequest(page_size=page_size, page_token=token))
        assert reply.ByteSize() <= LIMIT
        if page_size:
            assert len(reply.models) <= page_size
        seen += [(m.name, v.version) for m in reply.models for v in m.versions]
        pages += 1
        token = reply.next_page_token
        if not token:
            return seen, pages


@pytest.mark.parametrize("page_size", [0, 1, 4])
async def test_list_models_pages_fit_and_list_every_version_once(admin, page_size):
    seen, pages = await _walk(admin, page_size)
    expected = [(f"model-{m}", f"1.0.{v}") for m in range(6) for v in range(4)]
    assert seen == expected
    assert pages >= 3  # 24 versions of ~9 KB cannot share one 96 KiB reply


async def test_list_models_bad_page_token_is_invalid_argument(admin):
    for token in ("garbage!", "eyJ4IjogMX0="):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await admin.ListModels(apb.ListModelsRequest(page_token=token))
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "next_page_token" in err.value.details()


async def test_cli_models_list_through_a_gateway_follows_the_pages(address, capsys):
    listed = await galgate(capsys, "--json", "models", "list", "--server", address)
    assert listed.code == 0, listed.stderr
    assert [(m["name"], len(m["versions"])) for m in listed.json()] == [
        (f"model-{m}", 4) for m in range(6)
    ]
