"""FC 2.0 JSON shapes: msgspec Structs, one module per resource, and the rules for reading them.

The official clients rely on two quirks of the real server (spec §1.3), which :func:`decode`
reproduces for every shape:

* field names are matched case-insensitively (``{"DestinationConfig": …}`` fills
  ``destinationConfig``), but only field names: user maps such as ``environmentVariables`` and
  opaque blobs such as ``triggerConfig`` keep their keys exactly;
* ``null`` means "not provided", so it never overwrites a default.

Numbers that arrive as strings (``"timeout": "60"``, as FC's own docs send) are accepted.
This package imports nothing from the rest of fcd but the error tree.
"""

from __future__ import annotations

import datetime
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi

from fcd import errors

T = TypeVar("T")

_json_decoder = msgspec.json.Decoder()
_json_encoder = msgspec.json.Encoder()

# Lengths of FC's free-text fields, in characters: maxLength in FC's own API metadata
# (fc 2023-03-30 api-docs; FC 2.0's reference gives none, and the fields are the same ones):
# every description, and ARNs (role, invocationRole, sourceArn).
MAX_DESCRIPTION = 256
MAX_ARN = 300


def check_length(field: str, value: str | None, limit: int) -> None:
    """Refuse a string longer than FC allows for ``field``; None (not given) passes.

    Raises:
        errors.InvalidArgument: naming ``field``, its length and the limit.
    """
    if value is not None and len(value) > limit:
        raise errors.InvalidArgument(
            f"{field} is {len(value)} characters long: at most {limit} are allowed"
        )


def decode(body: bytes, into: type[T]) -> T:
    """Parse a request body into ``into`` with FC's case-insensitive, null-tolerant rules.

    An empty body counts as ``{}``.

    Raises:
        errors.InvalidArgument: the body is not JSON (or nested too deep), not an object, or a
            field has a bad value; the message names the field.
    """
    try:
        raw = _json_decoder.decode(body) if body.strip() else {}
    except (msgspec.DecodeError, RecursionError) as e:  # msgspec caps nesting depth
        raise errors.InvalidArgument(f"the request body is not valid JSON: {e}") from e
    return convert(raw, into)


def convert(raw: Any, into: type[T]) -> T:
    """Like :func:`decode` for an already-parsed JSON value."""
    if not isinstance(raw, dict):
        raise errors.InvalidArgument("the request body must be a JSON object")
    normalised = _normalise(raw, _type_info(into))
    try:
        return msgspec.convert(normalised, into, strict=False)
    except msgspec.ValidationError as e:
        raise errors.InvalidArgument(f"invalid request body: {_field_message(e)}") from e


def encode(value: Any) -> bytes:
    """Encode a response shape as JSON bytes (every field present, ``None`` as ``null``)."""
    return _json_encoder.encode(value)


def _field_message(error: msgspec.ValidationError) -> str:
    """msgspec says ``Expected `int`, got `str` - at `$.timeout```; FC clients read it as is."""
    return str(error).replace("`$.", "`")


_type_infos: dict[type[Any], mi.Type] = {}
_field_indexes: dict[type[Any], dict[str, mi.Field]] = {}


def _type_info(cls: type[Any]) -> mi.Type:
    """``msgspec.inspect.type_info`` is slow; each Struct is inspected once."""
    info = _type_infos.get(cls)
    if info is None:
        info = _type_infos[cls] = mi.type_info(cls)
    return info


def _field_index(cls: type[Any]) -> dict[str, mi.Field]:
    """Lower-cased wire name → field, for case-insensitive matching."""
    index = _field_indexes.get(cls)
    if index is None:
        struct_type = _type_info(cls)
        assert isinstance(struct_type, mi.StructType)
        index = {field.encode_name.lower(): field for field in struct_type.fields}
        _field_indexes[cls] = index
    return index


def _normalise(value: Any, type_info: mi.Type) -> Any:
    """Rewrite ``value`` so that its keys match the Struct fields in ``type_info`` exactly."""
    if isinstance(type_info, mi.UnionType):
        candidates = [t for t in type_info.types if not isinstance(t, mi.NoneType)]
        if len(candidates) == 1:
            return _normalise(value, candidates[0])
        return value
    if isinstance(type_info, mi.StructType) and isinstance(value, dict):
        index = _field_index(type_info.cls)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None or not isinstance(key, str):
                continue
            field = index.get(key.lower())
            if field is None:
                continue  # FC ignores unknown fields, as Go's encoding/json does
            out[field.encode_name] = _normalise(item, field.type)
        return out
    if isinstance(type_info, mi.ListType | mi.SetType | mi.FrozenSetType) and isinstance(
        value, list
    ):
        return [_normalise(item, type_info.item_type) for item in value]
    if isinstance(type_info, mi.DictType) and isinstance(value, dict):
        return {key: _normalise(item, type_info.value_type) for key, item in value.items()}
    return value


def timestamp(epoch: float) -> str:
    """FC's body time format, ``2020-04-01T08:14:58.123Z`` (UTC, milliseconds)."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
