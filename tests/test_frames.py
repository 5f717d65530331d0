"""The wire codec: signing vector, frame shapes, decoding hostile bytes, the inflate cap."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from htx_cancel import frames
from htx_cancel.models import Credentials, IdKind
from htx_cancel.redaction import Redactor, mask_access_key
from htx_cancel.signing import payload, sign, signed_params, timestamp_for

VECTOR_KEY = "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx"
VECTOR_SECRET = "b0xxxxxx-c6xxxxxx-94xxxxxx-dxxxx"


def test_signature_matches_the_published_vector() -> None:
    params = signed_params(VECTOR_KEY, "2017-05-11T15:19:30")
    assert payload("api.hbdm.com", "/linear-swap-trade", params) == (
        "GET\napi.hbdm.com\n/linear-swap-trade\n"
        "AccessKeyId=e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx&SignatureMethod=HmacSHA256"
        "&SignatureVersion=2&Timestamp=2017-05-11T15%3A19%3A30"
    )
    assert sign(VECTOR_SECRET, "API.HBDM.COM", "/linear-swap-trade", params) == (
        "mdfQ70CyiPMrMn7ErCVGIvHfoeXOFMXg0sZSQvJPP58="
    )


def test_auth_frame_carries_cid_and_signature() -> None:
    signed = frames.auth_frame(
        Credentials(VECTOR_KEY, VECTOR_SECRET),
        "api.hbdm.com",
        "/linear-swap-trade",
        "2017-05-11T15:19:30",
        "a1",
    )
    frame = json.loads(signed.text)
    assert frame["op"] == "auth" and frame["type"] == "api" and frame["cid"] == "a1"
    assert frame["Signature"] == signed.signature == "mdfQ70CyiPMrMn7ErCVGIvHfoeXOFMXg0sZSQvJPP58="
    assert VECTOR_SECRET not in signed.text
    assert VECTOR_SECRET not in repr(Credentials(VECTOR_KEY, VECTOR_SECRET))


def test_cancel_frame_keeps_ids_as_exact_strings() -> None:
    text = frames.cancel_frame("c-1", "BTC-USDT", IdKind.ORDER, ("9223372036854775807",))
    assert json.loads(text) == {
        "op": "cancel_batch_orders",
        "cid": "c-1",
        "data": {"contract_code": "BTC-USDT", "order_id": ["9223372036854775807"]},
    }


def test_pong_echoes_ts_exactly() -> None:
    assert json.loads(frames.pong_frame(frames.Ping("1492420473058", False))) == {
        "op": "pong",
        "ts": "1492420473058",
    }
    assert json.loads(frames.pong_frame(frames.Ping(18212558000, True))) == {"pong": 18212558000}


def test_classify_both_answer_forms() -> None:
    gz = gzip.compress(b'{"code":"200","message":"Success","cid":"c-1","ts":"17","data":[]}')
    answer = frames.classify(frames.decode(gz))
    assert answer == frames.Answer("c-1", False, True, 200, "Success", 17, [])
    documented = frames.classify({"op": "auth", "type": "api", "err-code": 0, "ts": 1, "data": {}})
    assert isinstance(documented, frames.Answer) and documented.auth and documented.ok
    assert documented.cid is None
    refused = frames.classify(
        {"op": "auth", "cid": "a", "err-code": 2003, "err-msg": "Authentication failed."}
    )
    assert isinstance(refused, frames.Answer) and not refused.ok and refused.code == 2003
    generic = frames.classify({"status": "error", "err_code": 1030, "err_msg": "x", "cid": "c-2"})
    assert isinstance(generic, frames.Answer) and not generic.ok and generic.code == 1030
    assert frames.classify({"ping": 5}) == frames.Ping(5, True)
    assert frames.classify({"op": "close", "ts": 1}) == frames.Notice("close", None, "")


def test_odd_codes_ids_and_times_are_no_codes_at_all() -> None:
    odd = frames.classify({"code": "--1", "cid": "x", "ts": 10**30})
    assert odd == frames.Answer("x", False, False, None, "", None, None)
    assert frames.as_code("²") is None and frames.as_code(" -5 ") == -5
    assert (
        frames.as_id("\uff11\uff12") is None and frames.as_id(12) == "12" and frames.as_id("1" * 20) is None
    )


def test_signed_auth_repr_hides_the_signature() -> None:
    signed = frames.auth_frame(Credentials("k" * 12, "s"), "h", "/p", "2017-05-11T15:19:30", "c")
    assert signed.signature not in repr(signed)


def test_cancel_items_accept_both_spellings_and_number_types() -> None:
    items = frames.cancel_items(
        [
            {"orderId": "1", "clientOrderId": "9", "code": 200, "message": "Success"},
            {"order_id": 2, "client_order_id": None, "code": "1071", "message": "成功"},
            {"order_id": 3.0, "code": 200},
            "junk",
        ]
    )
    assert items == (
        frames.AnswerItem("1", "9", 200, "Success"),
        frames.AnswerItem("2", None, 1071, "成功"),
        frames.AnswerItem(None, None, 200, ""),
    )
    assert frames.cancel_items({"not": "a list"}) is None


def test_gzip_bomb_is_refused_within_a_few_megabytes() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1 << 20)
    bomb = b"".join(compressor.compress(chunk) for _ in range(300)) + compressor.flush()
    assert len(bomb) < 1 << 20  # a small frame ...
    tracemalloc.start()
    try:
        try:
            frames.decode(bomb)
        except frames.FrameError as exc:
            assert "inflates beyond" in str(exc)
        else:
            raise AssertionError("a 300 MB frame was accepted")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * (1 << 20)  # ... that would inflate to 300 MB costs under 4 MB


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_frame_error(raw: bytes) -> None:
    for data in (raw, gzip.compress(raw)):
        try:
            event = frames.classify(frames.decode(data))
        except frames.FrameError:
            continue
        if isinstance(event, frames.Answer):
            frames.cancel_items(event.data)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "op",
        "cid",
        "code",
        "err-code",
        "err_code",
        "status",
        "ts",
        "data",
        "ping",
        "message",
        "orderId",
        "order_id",
        "clientOrderId",
        "client_order_id",
    ]
)


@given(st.dictionaries(KEYS, JSON, max_size=8))
def test_any_json_object_is_understood_without_exceptions(message: dict[str, object]) -> None:
    event = frames.classify(frames.decode(gzip.compress(json.dumps(message).encode())))
    if isinstance(event, frames.Answer):
        items = frames.cancel_items(event.data) or ()
        for item in items:
            assert item.code is None or isinstance(item.code, int)
            assert item.order_id is None or item.order_id.isdigit()
    if isinstance(event, frames.Ping):
        json.loads(frames.pong_frame(event))


def test_redactor_removes_secrets_and_masks_the_access_key() -> None:
    redact = Redactor((VECTOR_SECRET,), VECTOR_KEY)
    redact.add_secret("SIG+/=")
    text = redact(f'{{"AccessKeyId":"{VECTOR_KEY}","Signature":"SIG+/=","x":"{VECTOR_SECRET}"}}')
    assert VECTOR_SECRET not in text and "SIG+/=" not in text and VECTOR_KEY not in text
    assert "e2xx...xxxx" in text  # first and last four characters
    assert mask_access_key("short") == "*****"


def test_timestamps_are_utc_whatever_zone_the_moment_is_in() -> None:
    tokyo = timezone(timedelta(hours=9))
    moment = datetime(2017, 5, 12, 0, 19, 30, tzinfo=tokyo)
    assert timestamp_for(moment) == "2017-05-11T15:19:30"
    west = datetime(2017, 5, 11, 10, 19, 30, 999999, tzinfo=timezone(timedelta(hours=-5)))
    assert timestamp_for(west) == "2017-05-11T15:19:30"


def test_the_access_key_mask_is_exactly_first_four_and_last_four() -> None:
    key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"  # every character distinct: any off-by-one shows
    assert mask_access_key(key) == "ABCD...2345"
    assert mask_access_key(key[:12]) == "ABCD...IJKL"
    assert mask_access_key(key[:11]) == "*" * 11
    assert mask_access_key("") == ""
    assert Redactor((), key)(f"key={key};") == "key=ABCD...2345;"
