"""The FC request signature: every vector of spec §2.6, and verify()'s verdicts (spec §2.7)."""

from __future__ import annotations

import base64
import email.utils
import hashlib
from collections.abc import Mapping

import pytest
from fc2.auth import Auth
from hypothesis import given, settings
from hypothesis import strategies as st

from fcd import errors, signature
from fcd.signature import Query

NOW = 1_604_915_193.0  # Mon, 09 Nov 2020 09:46:33 GMT, the Date of the §2.6 vector 3
NOW_DATE = "Mon, 09 Nov 2020 09:46:33 GMT"
KEY_ID = "akid"
SECRET = "aksecret"
SIGNATURE_NOT_MATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your access key and signing method"
)


# §2.6 vector 1: the Go SDK's TestGetSignature ------------------------------------------------
GO_STRING_TO_SIGN = (
    "GET\nef5b43a0fe1d5b401b62c3ba33a7a3d6\ntext/json\n1583221068\nx-fc-trace-id:trace-id\n"
    "/2016-08-15/proxy/service.LATEST/func/abc 123\na=123 45\nx-fc-access-key-id=akID\n"
    "x-fc-expires=1583221068\nx-fc-security-token=stsToken\nx=456\nx=xyz"
)


def test_go_get_signature_vector_string_to_sign() -> None:
    text = signature.string_to_sign(
        "GET",
        {
            "content-md5": "ef5b43a0fe1d5b401b62c3ba33a7a3d6",
            "content-type": "text/json",
            "x-fc-trace-id": "trace-id",
        },
        "/2016-08-15/proxy/service.LATEST/func/abc 123",
        {
            "x": ["456", "xyz"],
            "x-fc-security-token": ["stsToken"],
            "a": ["123 45"],
            "x-fc-expires": ["1583221068"],
            "x-fc-access-key-id": ["akID"],
        },
    )
    assert text == GO_STRING_TO_SIGN


def test_go_get_signature_vector_signature() -> None:
    assert (
        signature.sign("S9MWOBG0AOWHSO9HPASP216QOPHT5YR4NLH3A", GO_STRING_TO_SIGN)
        == "QFdNhz0Dl+onUM/MvpX940WFH3H8OHayZHbby1c01aI="
    )


# §2.6 vector 2: the Go SDK's SignURL test ----------------------------------------------------
@pytest.mark.parametrize(
    ("with_token", "expected"),
    [
        (True, "Yi0jCBQ6cTZc+tN8wtYUz9FbYNijx5jDiE3sVNW6XwA="),
        (False, "6Rc4KxEAv3+lHpbNQWceIUqWVWq3ewxhadlJBRzZ0XQ="),
    ],
)
def test_go_sign_url_vector(with_token: bool, expected: str) -> None:
    query = {"x-fc-access-key-id": ["akid"], "x-fc-expires": ["1583339600"]}
    if with_token:
        query["x-fc-security-token"] = ["stsToken"]
    text = signature.string_to_sign("GET", {}, "/2016-08-15/proxy/service/func/", query)
    assert signature.sign("akSec", text) == expected


# §2.6 vector 3: produced with fc2.auth.Auth ---------------------------------------------------
PY_HEADERS = {"date": NOW_DATE, "content-type": "application/json"}


def test_python_vector_list_services() -> None:
    text = signature.string_to_sign("GET", PY_HEADERS, "/2016-08-15/services")
    assert (
        signature.authorization(KEY_ID, SECRET, text)
        == "FC akid:W1LQtFcZDL0Oxn7sTLMHbbtJUQQZw+bh5+emRFZIJMQ="
    )


def test_python_vector_async_invoke_with_token() -> None:
    headers = {**PY_HEADERS, "x-fc-security-token": "tok", "x-fc-invocation-type": "Async"}
    path = "/2016-08-15/services/s1/functions/f1/invocations"
    text = signature.string_to_sign("POST", headers, path)
    assert text == (
        "POST\n\napplication/json\nMon, 09 Nov 2020 09:46:33 GMT\nx-fc-invocation-type:Async\n"
        "x-fc-security-token:tok\n/2016-08-15/services/s1/functions/f1/invocations"
    )
    assert (
        signature.authorization(KEY_ID, SECRET, text)
        == "FC akid:+G6uXrMNwX2STHUazyLkuFGCChNVnsj9HBk80nhU73w="
    )


def test_python_vector_proxy_with_query() -> None:
    path = "/2016-08-15/proxy/s1/f1/action with space"
    query = {"key with space": ["value with space"], "key": ["value"]}
    assert signature.canonical_resource(path, query) == (
        f"{path}\nkey with space=value with space\nkey=value"
    )
    text = signature.string_to_sign("POST", PY_HEADERS, path, query)
    assert (
        signature.authorization(KEY_ID, SECRET, text)
        == "FC akid:Tul/lhq1CtzcwSiib4pbOfZvU6PLfOmA8jkCS5fvKi0="
    )


def test_python_vector_proxy_without_query_ends_in_newline() -> None:
    path = "/2016-08-15/proxy/s1/f1/"
    assert signature.canonical_resource(path, {}) == path + "\n"
    text = signature.string_to_sign("GET", PY_HEADERS, path, {})
    assert (
        signature.authorization(KEY_ID, SECRET, text)
        == "FC akid:d/UIKophfalsQ5FyKDlVOUQPo887i4zsJRPXwFSJCPs="
    )


def test_canonical_headers_take_only_x_fc_dash_and_keep_empty_values() -> None:
    headers = {"x-fcdummy": "no", "x-fc-b": "2", "x-fc-account-id": "", "x-fc-a": "1"}
    assert signature.canonical_headers(headers) == "x-fc-a:1\nx-fc-account-id:\nx-fc-b:2\n"
    assert signature.canonical_headers({"date": "x"}) == ""


# Property: we sign exactly as the official Python SDK does ------------------------------------
_token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\n"), max_size=12
)
_fc_headers = st.dictionaries(_token.map(lambda s: "x-fc-" + s.lower()), _token, max_size=4)


@settings(max_examples=200, deadline=None)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "patch"]),
    path=_token.map(lambda s: "/2016-08-15/" + s),
    fc_headers=_fc_headers,
    content_type=_token,
    query=st.none() | st.dictionaries(_token, st.lists(_token, max_size=3), max_size=4),
)
def test_string_to_sign_matches_the_official_python_sdk(
    method: str,
    path: str,
    fc_headers: dict[str, str],
    content_type: str,
    query: dict[str, list[str]] | None,
) -> None:
    headers = {"date": NOW_DATE, "content-type": content_type, **fc_headers}
    if query is not None:
        query.pop("x-fc-expires", None)  # the SDK only signs header-dated requests
    ours = signature.authorization(
        KEY_ID, SECRET, signature.string_to_sign(method, headers, path, query)
    )
    assert ours == Auth(KEY_ID, SECRET).sign_request(method, path, headers, query)


# verify() -------------------------------------------------------------------------------------
def _secret_for(key_id: str) -> str | None:
    return {KEY_ID: SECRET}.get(key_id)


def _signed_headers(
    method: str,
    path: str,
    *,
    date: str = NOW_DATE,
    query: Query | None = None,
) -> dict[str, str]:
    headers = {"date": date, "content-type": "application/json", "x-fc-trace-id": "t1"}
    text = signature.string_to_sign(method, headers, path, query)
    headers["authorization"] = signature.authorization(KEY_ID, SECRET, text)
    return headers


def _verify(
    headers: Mapping[str, str],
    *,
    method: str = "GET",
    raw_path: str = "/2016-08-15/services",
    query: Query | None = None,
    now: float = NOW,
) -> str:
    return signature.verify(
        method=method,
        raw_path=raw_path,
        headers=headers,
        query=query or {},
        secret_for=_secret_for,
        now=now,
    )


def test_verify_accepts_a_correct_signature_and_returns_the_key() -> None:
    assert _verify(_signed_headers("GET", "/2016-08-15/services")) == KEY_ID


def test_verify_ignores_the_query_on_ordinary_routes() -> None:
    headers = _signed_headers("GET", "/2016-08-15/services")
    assert _verify(headers, query={"limit": ["2"], "prefix": ["a"]}) == KEY_ID


def test_verify_signs_the_query_on_proxy_routes() -> None:
    path = "/2016-08-15/proxy/s1/f1/x"
    headers = _signed_headers("GET", path, query={"a": ["1"]})
    assert _verify(headers, raw_path=path, query={"a": ["1"]}) == KEY_ID
    with pytest.raises(errors.SignatureNotMatch):
        _verify(headers, raw_path=path, query={"a": ["2"]})


def test_missing_authorization_is_access_denied() -> None:
    with pytest.raises(errors.AccessDenied) as e:
        _verify({"date": NOW_DATE})
    assert type(e.value) is errors.AccessDenied
    assert e.value.status == 403
    assert "Authorization" in e.value.message


@pytest.mark.parametrize(
    "value",
    ["Bearer abc", "FC", "FC akid", "FC akid:", "FC :sig", "fc akid:sig", "", "FCakid:sig"],
)
def test_malformed_authorization_is_access_denied(value: str) -> None:
    with pytest.raises(errors.AccessDenied) as e:
        _verify({"date": NOW_DATE, "authorization": value})
    assert type(e.value) is errors.AccessDenied


def test_unknown_key_is_invalid_access_key_id_with_the_exact_message() -> None:
    headers = _signed_headers("GET", "/2016-08-15/services")
    headers["authorization"] = headers["authorization"].replace(
        "FC akid:", "FC invalidAccessKeyID:"
    )
    with pytest.raises(errors.InvalidAccessKeyID) as e:
        _verify(headers)
    assert e.value.status == 403
    assert e.value.code == "InvalidAccessKeyID"
    assert e.value.message == "invalid access key ID 'invalidAccessKeyID'"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h: h.update(authorization="FC akid:" + "A" * 43 + "="),  # another signature
        lambda h: h.update({"x-fc-trace-id": "t2"}),  # a signed header changed
        lambda h: h.update({"x-fc-invocation-type": "Async"}),  # an x-fc- header added
        lambda h: h.update({"content-type": "text/plain"}),
        lambda h: h.update({"content-md5": "abc"}),
    ],
)
def test_forged_request_is_signature_not_match_with_the_exact_message(tamper) -> None:
    headers = _signed_headers("GET", "/2016-08-15/services")
    tamper(headers)
    with pytest.raises(errors.SignatureNotMatch) as e:
        _verify(headers)
    assert e.value.status == 403
    assert e.value.message == SIGNATURE_NOT_MATCH


def test_wrong_method_or_path_does_not_match() -> None:
    headers = _signed_headers("GET", "/2016-08-15/services")
    with pytest.raises(errors.SignatureNotMatch):
        _verify(headers, method="DELETE")
    with pytest.raises(errors.SignatureNotMatch):
        _verify(headers, raw_path="/2016-08-15/services/other")


@pytest.mark.parametrize("offset", [-15 * 60 + 1, 15 * 60 - 1, 0])
def test_date_within_fifteen_minutes_is_accepted(offset: int) -> None:
    date = email.utils.formatdate(NOW + offset, usegmt=True)
    assert _verify(_signed_headers("GET", "/2016-08-15/services", date=date)) == KEY_ID


@pytest.mark.parametrize("offset", [-15 * 60 - 1, 15 * 60 + 1, -86400 * 365])
def test_date_skew_over_fifteen_minutes_is_access_denied(offset: int) -> None:
    date = email.utils.formatdate(NOW + offset, usegmt=True)
    with pytest.raises(errors.AccessDenied) as e:
        _verify(_signed_headers("GET", "/2016-08-15/services", date=date))
    assert type(e.value) is errors.AccessDenied
    assert "15 minutes" in e.value.message


def test_missing_date_is_missing_required_header() -> None:
    headers = _signed_headers("GET", "/2016-08-15/services")
    del headers["date"]
    with pytest.raises(errors.MissingRequiredHeader):
        _verify(headers)


@pytest.mark.parametrize("date", ["yesterday", "Mon, 99 Nov 2020 99:00:00 GMT", "1604915193"])
def test_unparseable_date_is_a_client_error(date: str) -> None:
    headers = _signed_headers("GET", "/2016-08-15/services", date=date)
    with pytest.raises(errors.FcError) as e:
        _verify(headers)
    assert 400 <= e.value.status < 500


# Pre-signed URLs (§2.4) -----------------------------------------------------------------------
PROXY_PATH = "/2016-08-15/proxy/s1/f1/hook"


def _presigned(expires: int, **extra: str) -> dict[str, list[str]]:
    query = {
        "x-fc-access-key-id": [KEY_ID],
        "x-fc-expires": [str(expires)],
        "q": ["1"],
        **{k: [v] for k, v in extra.items()},
    }
    text = signature.string_to_sign("GET", {}, PROXY_PATH, query)
    return {**query, "x-fc-signature": [signature.sign(SECRET, text)]}


def test_presigned_url_is_accepted_before_expiry() -> None:
    query = _presigned(int(NOW) + 60)
    assert _verify({}, raw_path=PROXY_PATH, query=query) == KEY_ID
    assert _verify({}, raw_path=PROXY_PATH, query=query, now=NOW + 60) == KEY_ID


def test_presigned_url_is_refused_after_expiry() -> None:
    query = _presigned(int(NOW) + 60)
    with pytest.raises(errors.AccessDenied) as e:
        _verify({}, raw_path=PROXY_PATH, query=query, now=NOW + 61)
    assert "expired" in e.value.message


def test_presigned_url_with_a_changed_query_does_not_match() -> None:
    query = {**_presigned(int(NOW) + 60), "q": ["2"]}
    with pytest.raises(errors.SignatureNotMatch):
        _verify({}, raw_path=PROXY_PATH, query=query)


def test_presigned_url_with_a_later_expiry_than_signed_does_not_match() -> None:
    query = {**_presigned(int(NOW) + 60), "x-fc-expires": [str(int(NOW) + 6000)]}
    with pytest.raises(errors.SignatureNotMatch):
        _verify({}, raw_path=PROXY_PATH, query=query)


def test_presigned_url_without_numeric_expiry_is_access_denied() -> None:
    query = {**_presigned(int(NOW) + 60), "x-fc-expires": ["soon"]}
    with pytest.raises(errors.AccessDenied):
        _verify({}, raw_path=PROXY_PATH, query=query)


def test_presigned_url_for_an_unknown_key_is_invalid_access_key_id() -> None:
    query = {**_presigned(int(NOW) + 60), "x-fc-access-key-id": ["nobody"]}
    with pytest.raises(errors.InvalidAccessKeyID) as e:
        _verify({}, raw_path=PROXY_PATH, query=query)
    assert e.value.message == "invalid access key ID 'nobody'"


def test_query_signature_is_not_accepted_outside_proxy_routes() -> None:
    query = _presigned(int(NOW) + 60)
    with pytest.raises(errors.AccessDenied):
        _verify({}, raw_path="/2016-08-15/services", query=query)


# Raw vs decoded path (§2.2) -------------------------------------------------------------------
LAYER_DECODED = "/2016-08-15/layerarn/acs:fc:cn-hangzhou:123:layers/l1/versions/1"
LAYER_RAW = "/2016-08-15/layerarn/acs%3Afc%3Acn-hangzhou%3A123%3Alayers%2Fl1%2Fversions%2F1"


def test_signature_over_the_decoded_path_is_accepted() -> None:
    """Python signs the unescaped path."""
    headers = _signed_headers("GET", LAYER_DECODED)
    assert _verify(headers, raw_path=LAYER_RAW) == KEY_ID


def test_signature_over_the_raw_path_is_accepted() -> None:
    """Node signs encodeURIComponent(arn), i.e. the path as sent."""
    headers = _signed_headers("GET", LAYER_RAW)
    assert _verify(headers, raw_path=LAYER_RAW) == KEY_ID


def test_signature_over_another_encoding_is_refused() -> None:
    """Go's PathEscape leaves ':' alone; that differs from what this request sent."""
    go_style = "/2016-08-15/layerarn/acs:fc:cn-hangzhou:123:layers%2Fl1%2Fversions%2F1"
    headers = _signed_headers("GET", go_style)
    with pytest.raises(errors.SignatureNotMatch):
        _verify(headers, raw_path=LAYER_RAW)


# Content-MD5 binds the body (fcd.signature.content_md5_matches) ------------------------------
_BODY = b'{"serviceName":"s"}'
_DIGEST = hashlib.md5(_BODY).digest()


@pytest.mark.parametrize(
    "value",
    [
        base64.b64encode(_DIGEST).decode(),  # Java, RFC 1864
        _DIGEST.hex(),  # Go
        _DIGEST.hex().upper(),
        base64.b64encode(_DIGEST.hex().encode()).decode(),  # Node
        " " + _DIGEST.hex() + " ",
    ],
)
def test_content_md5_in_each_sdk_encoding_matches(value: str) -> None:
    assert signature.content_md5_matches(value, _BODY)


@pytest.mark.parametrize(
    "value",
    ["", "x", base64.b64encode(hashlib.md5(b"other").digest()).decode(), _DIGEST.hex()[:-1]],
)
def test_content_md5_of_another_body_does_not(value: str) -> None:
    assert not signature.content_md5_matches(value, _BODY)
