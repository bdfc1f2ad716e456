"""FC's JSON reading rules (spec §1.3) as fcd.wire.decode applies them to every shape."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcd import errors, wire
from fcd.wire.services import ServiceInput


class Limits(msgspec.Struct, rename="camel"):
    max_count: int | None = None
    ratio: float | None = None


class Shape(msgspec.Struct, rename="camel"):
    """A stand-in with every kind of field the real shapes use."""

    function_name: str | None = None
    timeout: int | None = None
    enabled: bool | None = None
    layers: list[str] | None = None
    environment_variables: dict[str, str] | None = None
    limits: Limits | None = None
    limit_list: list[Limits] | None = None
    trigger_config: dict[str, Any] | None = None
    memory_size: int = 128


def test_keys_match_case_insensitively_at_every_level() -> None:
    got = wire.decode(
        b'{"FUNCTIONNAME":"f","Timeout":3,"limits":{"MaxCount":2},"LimitList":[{"RATIO":0.5}]}',
        Shape,
    )
    assert got.function_name == "f"
    assert got.timeout == 3
    assert got.limits == Limits(max_count=2)
    assert got.limit_list == [Limits(ratio=0.5)]


def test_python_sdk_async_config_body_with_pascal_case() -> None:
    """The official SDK's own test sends PascalCase keys to a camelCase API (spec §1.3)."""
    got = wire.decode(
        b'{"DestinationConfig":{"OnSuccess":{"Destination":"acs:fc:::x"}},"MaxAsyncRetryAttempts":1}',
        _AsyncConfig,
    )
    assert got.destination_config is not None
    assert got.destination_config.on_success == _Destination("acs:fc:::x")
    assert got.max_async_retry_attempts == 1


class _Destination(msgspec.Struct, rename="camel"):
    destination: str


class _DestinationConfig(msgspec.Struct, rename="camel"):
    on_success: _Destination | None = None


class _AsyncConfig(msgspec.Struct, rename="camel"):
    destination_config: _DestinationConfig | None = None
    max_async_retry_attempts: int | None = None


def test_null_means_absent_and_keeps_the_default() -> None:
    got = wire.decode(
        b'{"functionName":"f","memorySize":null,"layers":null,"limits":{"maxCount":null}}', Shape
    )
    assert got.memory_size == 128
    assert got.layers is None
    assert got.limits == Limits()


def test_go_sdk_all_null_body() -> None:
    body = json.dumps({field: None for field in ServiceInput.__struct_fields__}).encode()
    assert wire.decode(body, ServiceInput) == ServiceInput()


def test_numbers_as_strings_are_numbers() -> None:
    got = wire.decode(b'{"timeout":"60","limits":{"ratio":"0.25"}}', Shape)
    assert got.timeout == 60
    assert got.limits == Limits(ratio=0.25)


def test_user_maps_keep_their_keys_exactly() -> None:
    got = wire.decode(
        b'{"EnvironmentVariables":{"PATH":"/x","lower":"y","MixedCase":"z"},'
        b'"triggerConfig":{"AuthType":"anonymous","Methods":["GET"]}}',
        Shape,
    )
    assert got.environment_variables == {"PATH": "/x", "lower": "y", "MixedCase": "z"}
    assert got.trigger_config == {"AuthType": "anonymous", "Methods": ["GET"]}


def test_tracing_params_of_a_real_shape_keep_their_keys() -> None:
    got = wire.decode(
        b'{"TracingConfig":{"Type":"Jaeger","Params":{"Endpoint":"e"}}}', ServiceInput
    )
    assert got.tracing_config is not None
    assert got.tracing_config.type == "Jaeger"
    assert got.tracing_config.params == {"Endpoint": "e"}


def test_unknown_fields_are_ignored() -> None:
    assert wire.decode(b'{"nope":1,"functionName":"f"}', Shape) == Shape(function_name="f")


def test_empty_body_is_an_empty_object() -> None:
    assert wire.decode(b"", Shape) == Shape()
    assert wire.decode(b"  \n", Shape) == Shape()


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"{", "not valid JSON"),
        (b"[1]", "JSON object"),
        (b'"s"', "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b'{"timeout":"sixty"}', "timeout"),
        (b'{"layers":"a"}', "layers"),
        (b'{"limits":{"maxCount":[1]}}', "limits.maxCount"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_bad_bodies_are_invalid_argument_naming_the_problem(body: bytes, names: str) -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        wire.decode(body, Shape)
    assert names in e.value.message
    assert e.value.status == 400


def test_encode_writes_every_field_and_timestamp_is_fc_format() -> None:
    assert json.loads(wire.encode(Limits(max_count=1))) == {"maxCount": 1, "ratio": None}
    assert wire.timestamp(1_585_728_898.1234) == "2020-04-01T08:14:58.123Z"


# Property: any JSON, and any bytes, decode to the Struct or to InvalidArgument --------------
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "functionName",
                    "TIMEOUT",
                    "enabled",
                    "layers",
                    "environmentVariables",
                    "limits",
                    "maxCount",
                    "ratio",
                    "limitList",
                    "triggerConfig",
                    "memorySize",
                    "x",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)


def _decode_or_invalid(body: bytes, into: type[Any]) -> None:
    try:
        got = wire.decode(body, into)
    except errors.InvalidArgument as e:
        error: errors.InvalidArgument | None = e
    else:
        error = None
        assert isinstance(got, into)
        wire.encode(got)  # whatever was accepted can be written back
    assert error is None or (error.status == 400 and error.message)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_random_json_decodes_or_is_invalid_argument(value: Any) -> None:
    body = json.dumps(value).encode()
    _decode_or_invalid(body, Shape)
    _decode_or_invalid(body, ServiceInput)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_decode_or_are_invalid_argument(body: bytes) -> None:
    _decode_or_invalid(body, Shape)


def test_official_layer_arns() -> None:
    from fcd.wire import layers

    arn = "acs:fc:cn-hangzhou:official:layers/Python310/versions/2"
    assert layers.parse_official_arn(arn, region="cn-hangzhou") == ("Python310", 2)
    short = "acs:fc::official:layers/Python310/versions/2"
    assert layers.parse_official_arn(short, region="cn-hangzhou") == ("Python310", 2)
    assert layers.parse_official_arn(arn, region="cn-beijing") is None
    own = "acs:fc:cn-hangzhou:123:layers/Python310/versions/2"
    assert layers.parse_official_arn(own, region="cn-hangzhou") is None
    assert layers.version_scope("Python310", official=True) != "Python310"
    assert layers.version_scope("Python310", official=False) == "Python310"
