"""What every remote adapter must do the same way: keys, transport failures, options, picklable errors."""

from __future__ import annotations

import json
import pickle
from typing import Any

import httpx
import pytest

from tasks.core.errors import (
    AuthError,
    ConfigError,
    InvalidRequest,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    ProviderUnreachable,
    SubmitOutcomeUnknown,
)
from tasks.core.models import Accepted
from tasks.providers.base import Provider
from tasks.providers.registry import provider_class
from tests.providers.provider_kit import KEY, Wire, assert_key_hidden, inputs, make_job, reply, run

REMOTE = ["picsart.edit", "picsart.outpaint", "pixapi.edits", "fashn.edit"]


def _job(name: str) -> Any:
    return make_job(name, model="gpt-image-2" if name.startswith("pixapi") else None)


def _submit(name: str, wire: Wire, **kwargs: Any) -> Any:
    job = _job(name)
    return run(provider_class(name), wire, lambda adapter: adapter.submit(job, inputs()), **kwargs)


def _poll(name: str, wire: Wire, **kwargs: Any) -> Any:
    accepted = Accepted(provider=name, provider_job_id="job-1", detail_json=json.dumps({"format": "png"}))
    return run(provider_class(name), wire, lambda adapter: adapter.poll(accepted), **kwargs)


@pytest.mark.parametrize("name", REMOTE)
def test_missing_key_is_an_auth_error_before_any_request(name: str) -> None:
    wire = Wire([])
    for call in (_submit, _poll):
        with pytest.raises(AuthError, match=rf"{name}: no API key; set providers\.{name}\.api_key_env"):
            call(name, wire, key=None)
    assert wire.requests == []


@pytest.mark.parametrize("name", REMOTE)
def test_repr_never_shows_the_key(name: str) -> None:
    async def show(adapter: Provider) -> str:
        return repr(adapter) + str(vars(adapter).get("settings"))

    assert KEY not in run(provider_class(name), Wire([]), show)


@pytest.mark.parametrize("name", REMOTE)
@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (httpx.ConnectError("refused"), ProviderUnreachable),
        (httpx.ConnectTimeout("connect"), ProviderUnreachable),
        (httpx.PoolTimeout("pool"), ProviderTimeout),
        (httpx.ReadTimeout("read"), SubmitOutcomeUnknown),
        (httpx.ReadError("reset"), SubmitOutcomeUnknown),
        (httpx.RemoteProtocolError("eof"), SubmitOutcomeUnknown),
        (httpx.WriteError("broken pipe"), SubmitOutcomeUnknown),
    ],
)
def test_submit_transport_failures(name: str, failure: Exception, expected: type[Exception]) -> None:
    with pytest.raises(expected) as info:
        _submit(name, Wire([failure]))
    assert type(info.value) is expected
    assert (info.value.provider, info.value.row_id) == (name, "row-1")
    assert info.value.__cause__ is None  # the httpx error (holding the request and its headers) is dropped


@pytest.mark.parametrize("name", REMOTE)
def test_poll_transport_failures_are_retryable(name: str) -> None:
    with pytest.raises(ProviderTimeout):
        _poll(name, Wire([httpx.ReadTimeout("read")]))
    with pytest.raises(ProviderUnavailable):
        _poll(name, Wire([httpx.RemoteProtocolError("eof")]))


@pytest.mark.parametrize("name", REMOTE)
def test_base_url_setting_is_used(name: str) -> None:
    wire = Wire([httpx.ConnectError("refused")])
    with pytest.raises(ProviderUnavailable):
        _submit(name, wire, base_url="http://sandbox.local:8080/prefix/")
    assert str(wire.last.url).startswith("http://sandbox.local:8080/prefix/")
    assert "//" not in wire.last.url.path


@pytest.mark.parametrize("name", REMOTE)
def test_unsendable_request_is_invalid_not_unknown(name: str) -> None:
    # What the real transport raises for a base_url like ftp://: nothing was sent, retrying cannot help.
    with pytest.raises(InvalidRequest, match="base_url"):
        _submit(name, Wire([httpx.UnsupportedProtocol("ftp")]))


@pytest.mark.parametrize("name", REMOTE)
def test_unknown_option_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=rf"providers\.{name}\.options: unknown option\(s\) colour"):
        run(provider_class(name), Wire([]), lambda adapter: adapter.aclose(), options={"colour": "red"})


@pytest.mark.parametrize("name", REMOTE)
@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 413, 415, 422, 429, 500, 503])
def test_echoed_key_never_reaches_an_error(name: str, status: int) -> None:
    # Every documented error body shape at once, each echoing the key in its human text.
    body = {"code": status, "message": f"bad {KEY}", "detail": f"key={KEY}", "error": {"message": f"no {KEY}"}}
    with pytest.raises(ProviderError) as info:
        _submit(name, Wire([reply(status, body)]))
    assert_key_hidden(info.value)
    assert not isinstance(info.value, SubmitOutcomeUnknown)


@pytest.mark.parametrize("name", REMOTE)
def test_errors_survive_pickling_with_their_context(name: str) -> None:
    with pytest.raises(ProviderError) as info:
        _submit(name, Wire([reply(429, {"code": 429}, {"Retry-After": "2"})]))
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.message, copy.context) == (type(info.value), info.value.message, info.value.context)
    assert copy.retry_after == 2.0
