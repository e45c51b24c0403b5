"""When the bucket fails, the error names the cause an operator acts on: a bucket
that does not exist, or an endpoint nothing answers at (moto_server, real sockets)."""

from __future__ import annotations

import asyncio

import pytest

from adapters.s3_blobs import S3BlobStore, s3_store
from application.errors import BlobStoreUnavailable
from tests.buckets import s3_env, s3_server
from tests.e2e.servers import free_port


def refusal(endpoint: str, bucket: str) -> str:
    env = s3_env(endpoint, bucket)
    store = S3BlobStore(s3_store(env["BLOB_STORE_URL"], env, timeout_seconds=2), timeout_seconds=2)

    async def list_it() -> None:
        async for _ in store.listing():
            pass

    with pytest.raises(BlobStoreUnavailable) as refused:
        asyncio.run(list_it())
    return str(refused.value)


def test_a_bucket_that_does_not_exist_is_named_with_what_to_do() -> None:
    with s3_server() as server:
        said = refusal(server.endpoint, "no-such-bucket")
    assert said.startswith(f"the bucket 'no-such-bucket' does not exist at {server.endpoint}")
    assert "create it" in said


def test_an_endpoint_nothing_answers_at_is_named() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    said = refusal(endpoint, "bucket")
    assert said == f"cannot connect to {endpoint}: check AWS_ENDPOINT_URL and that it is up"
