"""inputs.py: every way IDs arrive, every way they can be wrong, and the messages users see."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from htx_cancel.errors import ExitCode, UsageError
from htx_cancel.inputs import MAX_ID, is_valid_id, parse_inputs
from htx_cancel.models import CancelRequest, IdKind, OrderRef

DATA = Path(__file__).parent / "data"
ORD = IdKind.ORDER
CLI = IdKind.CLIENT
BIG = "1358944125296009216"  # a real-looking 19-digit HTX order ID


def refs(*pairs: tuple[IdKind, str]) -> tuple[OrderRef, ...]:
    return tuple(OrderRef(kind, value) for kind, value in pairs)


def orders(*values: str) -> tuple[OrderRef, ...]:
    return tuple(OrderRef(ORD, value) for value in values)


def values(request: CancelRequest) -> list[str]:
    return [ref.value for ref in request.orders]


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def from_stdin(text: str, **kwargs: Any) -> CancelRequest:
    return parse_inputs("BTC-USDT", files=["-"], stdin=io.StringIO(text), **kwargs)


def usage_error(*fragments: str, **kwargs: Any) -> str:
    """Call parse_inputs expecting a UsageError; check it is one line and names every fragment."""
    kwargs.setdefault("contract_code", "BTC-USDT")
    with pytest.raises(UsageError) as caught:
        parse_inputs(**kwargs)
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert caught.value.exit_code == ExitCode.USAGE
    return message


# --- contract code -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_code", "expected"),
    [
        ("BTC-USDT", "BTC-USDT"),
        ("btc-usdt", "BTC-USDT"),
        ("Eth-Usdt", "ETH-USDT"),
        ("BTC-USDT-250627", "BTC-USDT-250627"),
        ("1000SHIB-USDT", "1000SHIB-USDT"),
        ("A-BC", "A-BC"),
        ("X" * 20 + "-" + "Y" * 10, "X" * 20 + "-" + "Y" * 10),
    ],
)
def test_contract_code_is_accepted_and_upper_cased(given_code: str, expected: str) -> None:
    assert parse_inputs(given_code, ["1"]).contract_code == expected


@pytest.mark.parametrize(
    "bad",
    [
        "BTC_USDT",
        "BTCUSDT",
        "",
        "BTC-",
        "-USDT",
        "BTC-U",
        "BTC-USDT1",
        "BTC-USDT-2506",
        "BTC-USDT-2506270",
        "BTC-USDT-25062A",
        " BTC-USDT",
        "BTC-USDT\n",
        "BTC-USDT-250627-X",
        "X" * 21 + "-USDT",
        "BTC-" + "U" * 11,
        "BTC-\u212aRW",  # Kelvin sign: matches "k" under Unicode case folding
        "BTC-USDT-\u0662\u0665\u0660\u0666\u0662\u0667",  # Arabic-Indic digits
    ],
)
def test_bad_contract_code_is_named(bad: str) -> None:
    message = usage_error(
        f"contract code {bad!r} is not valid",
        "(expected e.g. BTC-USDT or BTC-USDT-250627)",
        contract_code=bad,
        order_ids=["1"],
    )
    if bad == "BTC_USDT":
        assert message == (
            "contract code 'BTC_USDT' is not valid (expected e.g. BTC-USDT or BTC-USDT-250627)"
        )


def test_contract_code_is_checked_before_reading_stdin() -> None:
    stdin = io.StringIO("1\n")
    usage_error("contract code", contract_code="nope", stdin=stdin, stdin_is_tty=False)
    assert stdin.tell() == 0


# --- flags ---------------------------------------------------------------------------------------


def test_flag_values_split_on_commas_and_white_space() -> None:
    request = parse_inputs(
        "btc-usdt", order_ids=["1,2", "3 4", " 5,\t6 ,7\n8 ", "9,,10,"], client_order_ids=["11, 12"]
    )
    assert request.orders == (
        *orders("1", "2", "3", "4", "5", "6", "7", "8", "9", "10"),
        *refs((CLI, "11"), (CLI, "12")),
    )
    assert request.duplicates_dropped == 0


def test_duplicates_are_dropped_per_kind_keeping_first_order() -> None:
    request = parse_inputs("BTC-USDT", ["3,1,3", "2 1"], ["1", "4", "1"])
    assert request.orders == refs((ORD, "3"), (ORD, "1"), (ORD, "2"), (CLI, "1"), (CLI, "4"))
    assert request.duplicates_dropped == 3


@pytest.mark.parametrize(
    ("flag", "kwarg", "noun"),
    [
        ("--order-id", "order_ids", "an order ID"),
        ("--client-order-id", "client_order_ids", "a client order ID"),
    ],
)
@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("12a", "(must be a positive whole number)"),
        ("abc", "(must be a positive whole number)"),
        ("-5", "(must be a positive whole number)"),
        ("+5", "(must be a positive whole number)"),
        ("1.5", "without a decimal point"),
        ("1.0", "without a decimal point"),
        ("1e5", "(must be a positive whole number)"),
        ("0x1F", "(must be a positive whole number)"),
        ("0", "not zero"),
        ("000", "not zero"),
        ("007", "leading zero is ambiguous"),
        ("\u0661\u0662", "ASCII digits"),
        ("\uff11\uff12", "ASCII digits"),  # full-width digits, as an IME might type them
    ],
)
def test_bad_flag_id_names_value_origin_and_reason(
    flag: str, kwarg: str, noun: str, bad: str, why: str
) -> None:
    message = usage_error(f"{flag}: {bad!r} is not {noun}", why, **{kwarg: ["1", f"2,{bad}"]})
    assert message.startswith(f"{flag}: ")


def test_exact_messages_from_the_spec() -> None:
    assert (
        usage_error(order_ids=["-5"])
        == "--order-id: '-5' is not an order ID (must be a positive whole number)"
    )
    assert (
        usage_error(order_ids=["9223372036854775808"])
        == "--order-id: '9223372036854775808' is larger than 9223372036854775807"
    )


@pytest.mark.parametrize("bad", ["9223372036854775808", "9999999999999999999", "1" * 20, "1" * 500])
def test_too_large_ids_are_refused(bad: str) -> None:
    usage_error("--order-id: ", "is larger than 9223372036854775807", order_ids=[bad])


def test_largest_and_smallest_ids_are_accepted() -> None:
    request = parse_inputs("BTC-USDT", ["1", "9223372036854775807", "9223372036854775806"])
    assert values(request) == ["1", "9223372036854775807", "9223372036854775806"]


@pytest.mark.parametrize("empty", ["", " ", ",", " , \t"])
def test_empty_flag_value_is_an_error(empty: str) -> None:
    usage_error(f"--client-order-id: {empty!r} holds no client order ID", client_order_ids=[empty])


def test_very_long_bad_value_is_truncated() -> None:
    bad = "x" * 5000
    message = usage_error("--order-id: ", "(5000 characters)", order_ids=[bad])
    assert len(message) < 200


def test_control_characters_in_a_value_stay_on_one_line() -> None:
    usage_error(r"'1\x002'", order_ids=["1\x002"])
    usage_error(r"'1\x1b[31m'", order_ids=["1\x1b[31m"])


# --- no IDs, max_orders --------------------------------------------------------------------------


def test_no_ids_at_all_is_an_error() -> None:
    assert usage_error() == "no order IDs given (use -o, -c, -f or standard input)"


def test_terminal_stdin_is_not_read_implicitly() -> None:
    stdin = io.StringIO("1\n")
    usage_error("no order IDs given", stdin=stdin, stdin_is_tty=True)
    assert stdin.tell() == 0


def test_max_orders_counts_distinct_ids() -> None:
    request = parse_inputs("BTC-USDT", ["1,2,2,3"], max_orders=3)
    assert len(request.orders) == 3
    assert (
        usage_error(order_ids=["1,2,3"], client_order_ids=["1"], max_orders=3)
        == "4 distinct IDs given, more than --max-orders 3; nothing sent"
    )


def test_max_orders_zero() -> None:
    usage_error("1 distinct ID given, more than --max-orders 0", order_ids=["1"], max_orders=0)


# --- plain text files ----------------------------------------------------------------------------


def test_text_file_with_comments_commas_and_blank_lines() -> None:
    request = parse_inputs("BTC-USDT", files=[str(DATA / "ids.txt")])
    assert values(request) == [
        "1358944125296009216",
        "1358944125296009217",
        "1358944125296009218",
        "1358944125296009219",
    ]
    assert request.duplicates_dropped == 1


def test_text_file_bad_id_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.txt", "1\n2 3\n# 12a in a comment is fine\n4, 12a\n")
    message = usage_error(files=[path])
    assert message == f"file {path} line 4: '12a' is not an order ID (must be a positive whole number)"


def test_text_line_numbers_survive_crlf_and_old_mac_endings(tmp_path: Path) -> None:
    usage_error(" line 3: 'x'", files=[write(tmp_path, "a.txt", "1\r\n2\r\nx\r\n")])
    usage_error(" line 3: 'x'", files=[write(tmp_path, "b.txt", "1\r2\rx\r")])
    request = parse_inputs("BTC-USDT", files=[write(tmp_path, "c.txt", "1 # a\r2\r\n3")])
    assert values(request) == ["1", "2", "3"]


def test_client_ids_flag_makes_bare_ids_client_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.txt", "5\n6\nseven\n")
    message = usage_error(
        f"file {path} line 3: 'seven' is not a client order ID", files=[path], client_ids=True
    )
    assert "an order ID" not in message
    request = parse_inputs("BTC-USDT", ["5"], files=[write(tmp_path, "ok.txt", "5 6")], client_ids=True)
    assert request.orders == refs((ORD, "5"), (CLI, "5"), (CLI, "6"))
    assert request.duplicates_dropped == 0


def test_utf8_bom_and_utf16_files(tmp_path: Path) -> None:
    assert values(parse_inputs("BTC-USDT", files=[write(tmp_path, "a.txt", b"\xef\xbb\xbf1\n2\n")])) == [
        "1",
        "2",
    ]
    utf16 = "\ufeff7\r\n8\r\n".encode("utf-16-le")
    assert values(parse_inputs("BTC-USDT", files=[write(tmp_path, "b.txt", utf16)])) == ["7", "8"]


def test_file_ids_follow_flag_ids_and_files_keep_their_order(tmp_path: Path) -> None:
    first = write(tmp_path, "first.txt", "30\n10\n")
    second = write(tmp_path, "second.txt", "20\n10\n")
    request = parse_inputs("BTC-USDT", ["40"], ["40"], files=[first, second])
    assert request.orders == refs((ORD, "40"), (CLI, "40"), (ORD, "30"), (ORD, "10"), (ORD, "20"))
    assert request.duplicates_dropped == 1


# --- file problems -------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.txt")
    assert usage_error(files=[path]) == f"file {path} does not exist"


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    usage_error(f"file {tmp_path} ", "directory", files=[str(tmp_path)])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unreadable_file(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    path = write(tmp_path, "secret.txt", "1\n")
    Path(path).chmod(0)
    usage_error(f"file {path} cannot be read", files=[path])


@pytest.mark.parametrize("content", ["", "   \n\n\t\n"])
def test_empty_file(tmp_path: Path, content: str) -> None:
    path = write(tmp_path, "empty.txt", content)
    assert usage_error(files=[path]) == f"file {path} is empty"


def test_file_of_comments_only_holds_no_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "c.txt", "# nothing today\n\n#\n")
    assert usage_error(files=[path]) == f"file {path} holds no IDs"


def test_file_of_duplicates_only_is_not_empty(tmp_path: Path) -> None:
    request = parse_inputs("BTC-USDT", ["1"], files=[write(tmp_path, "d.txt", "1\n")])
    assert request.orders == orders("1")
    assert request.duplicates_dropped == 1


def test_binary_file_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.bin", b"12\n\x80abc")
    usage_error(f"file {path} is not UTF-8 text", "0x80", files=[path])


class _EndlessStream(io.TextIOBase):
    """A stdin that never ends, like `yes 1 | htx-cancel ...`."""

    def read(self, size: int | None = -1) -> str:
        assert size is not None and size > 0, "an unbounded read would never return"
        return "1\n" * (size // 2)


def test_endless_stdin_is_refused_not_read_forever() -> None:
    usage_error("stdin is larger than 64 MiB", files=["-"], stdin=_EndlessStream())


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_file_is_refused_not_read_forever() -> None:
    usage_error("file /dev/zero is larger than 64 MiB", files=["/dev/zero"])


def test_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    path = str(tmp_path / "bad\nname.txt")
    usage_error("does not exist", "bad\\nname.txt", files=[path])


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_from_our_own_output() -> None:
    request = parse_inputs("BTC-USDT", files=[str(DATA / "ids.csv")])
    assert request.orders == refs((ORD, "1358944125296009216"), (CLI, "9001"), (ORD, "1358944125296009218"))


def test_csv_preference_and_spellings(tmp_path: Path) -> None:
    text = (
        "\n\n"
        '"symbol", orderId , "order_id_str",clientOrderId\n'
        "BTC-USDT,11,12,13\n"
        "BTC-USDT,,,14\n"
        'BTC-USDT, "15",,\n'
        ",,,\n"
        "\n"
        "BTC-USDT,16\n"
    )
    request = parse_inputs("BTC-USDT", files=[write(tmp_path, "x.csv", text)])
    assert request.orders == refs((ORD, "12"), (CLI, "14"), (ORD, "15"), (ORD, "16"))


def test_csv_detected_by_content_not_extension(tmp_path: Path) -> None:
    path = write(tmp_path, "export.dat", "\ufeffclient_order_id\n101\n102\n")
    request = parse_inputs("BTC-USDT", files=[path])
    assert request.orders == refs((CLI, "101"), (CLI, "102"))


def test_csv_bad_id_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "\norder_id,state\n1,ok\n2.5,ok\n")
    assert (
        usage_error(files=[path])
        == f"file {path} line 4: '2.5' is not an order ID (must be a positive whole number, "
        "without a decimal point)"
    )


def test_csv_row_without_any_id(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "order_id,client_order_id,state\n1,,ok\n,,cancelled\n")
    usage_error(f"file {path} line 3: no order ID or client order ID in this row", files=[path])


def test_malformed_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", 'order_id,message\n1,"fine"\n2,"broken"oops\n')
    usage_error(f"file {path} line 3: not valid CSV", files=[path])
    path = write(tmp_path, "y.csv", 'order_id,message\n1,"never closed\n')
    usage_error(f"file {path} line ", "not valid CSV", files=[path])


def test_csv_header_only_holds_no_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "x.csv", "order_id,state\n")
    usage_error(f"file {path} holds no IDs", files=[path])


def test_header_word_inside_text_is_not_csv(tmp_path: Path) -> None:
    path = write(tmp_path, "x.txt", "order_id_list 1 2\n")
    usage_error(f"file {path} line 1: 'order_id_list' is not an order ID", files=[path])


# --- JSON ----------------------------------------------------------------------------------------


def test_json_list_of_strings_and_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.json", f'["1", 2, "{BIG}", {BIG}]')
    request = parse_inputs("BTC-USDT", files=[path])
    assert values(request) == ["1", "2", BIG]
    assert request.duplicates_dropped == 1


def test_bare_19_digit_json_numbers_are_exact(tmp_path: Path) -> None:
    # As floats both would become 9223372036854775808 and 1358944125296009216 -> ...9200.
    path = write(tmp_path, "ids.json", "[9223372036854775807, 1358944125296009217]")
    assert values(parse_inputs("BTC-USDT", files=[path])) == [
        "9223372036854775807",
        "1358944125296009217",
    ]
    path = write(tmp_path, "obj.json", '{"order_id": 1358944125296009219}')
    assert values(parse_inputs("BTC-USDT", files=[path])) == ["1358944125296009219"]


def test_json_list_with_client_ids_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "ids.json", '[1, [2, 3], {"order_id": "4"}]')
    request = parse_inputs("BTC-USDT", files=[path], client_ids=True)
    assert request.orders == refs((CLI, "1"), (CLI, "2"), (CLI, "3"), (ORD, "4"))


def test_json_objects_and_key_preference(tmp_path: Path) -> None:
    doc = [
        {"order_id_str": "1", "order_id": 999, "orderId": "998", "client_order_id": 997},
        {"order_id_str": None, "order_id": 2, "client_order_id": 996},
        {"orderId": "3", "clientOrderId": "995"},
        {"order_id": None, "client_order_id": "4"},
        {"clientOrderId": 5},
    ]
    request = parse_inputs("BTC-USDT", files=[write(tmp_path, "x.json", json.dumps(doc))])
    assert request.orders == refs((ORD, "1"), (ORD, "2"), (ORD, "3"), (CLI, "4"), (CLI, "5"))


def test_our_own_json_document_round_trips() -> None:
    request = parse_inputs("BTC-USDT", files=[str(DATA / "htx-cancel-results.json")])
    assert request.orders == refs((ORD, "1358944125296009216"), (CLI, "9001"), (ORD, "1358944125296009218"))
    assert request.duplicates_dropped == 0  # the document's own count is not an input


def test_htx_open_orders_answer() -> None:
    request = parse_inputs("BTC-USDT", files=[str(DATA / "htx-open-orders.json")])
    assert request.orders == orders("1358944125296009216", "1358944125296009217")


def test_scalars_and_lists_inside_plain_objects_are_ignored(tmp_path: Path) -> None:
    doc = {"status": "ok", "tags": ["x", 1], "n": 5, "data": [{"order_id": "7"}]}
    assert values(parse_inputs("BTC-USDT", files=[write(tmp_path, "x.json", json.dumps(doc))])) == ["7"]


def test_json_lines(tmp_path: Path) -> None:
    text = '{"order_id": "1", "state": "x"}\n\n{"order_id": null, "client_order_id": "2"}\n["3", 4]\n5\n'
    request = parse_inputs("BTC-USDT", files=[write(tmp_path, "r.jsonl", text)])
    assert request.orders == refs((ORD, "1"), (CLI, "2"), (ORD, "3"), (ORD, "4"), (ORD, "5"))


def test_concatenated_pretty_json_as_jq_prints_it(tmp_path: Path) -> None:
    text = '{\n  "order_id": "1"\n}\n{\n  "order_id": "2x"\n}\n'
    path = write(tmp_path, "jq.out", text)
    assert (
        usage_error(files=[path])
        == f"file {path} line 4 at order_id: '2x' is not an order ID (must be a positive whole number)"
    )


def test_json_lines_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "r.jsonl", '{"order_id": "1"}\n{"order_id": "2"}\n{"order_id": "0"}\n')
    usage_error(f"file {path} line 3 at order_id: '0' is not an order ID", "not zero", files=[path])
    path = write(tmp_path, "s.jsonl", '{"order_id": "1"}\n{"order_id": 2,}\n')
    usage_error(f"file {path} line 2 column ", "not valid JSON", files=[path])


def test_json_document_error_names_path(tmp_path: Path) -> None:
    doc = {"results": [{"order_id": "1"}, {"order_id": "-3"}]}
    path = write(tmp_path, "r.json", json.dumps(doc, indent=2))
    assert (
        usage_error(files=[path])
        == f"file {path} at results[1].order_id: '-3' is not an order ID (must be a positive whole number)"
    )


def test_json_all_null_id_keys(tmp_path: Path) -> None:
    doc = {"results": [{"order_id": "1"}, {"order_id": None, "client_order_id": None}]}
    path = write(tmp_path, "r.json", json.dumps(doc))
    assert usage_error(files=[path]) == (
        f"file {path} at results[1]: no order ID or client order ID (order_id, client_order_id are all null)"
    )
    path = write(tmp_path, "s.json", '[{"orderId": null}]')
    usage_error(f"file {path} at [0]: ", "(orderId is null)", files=[path])


@pytest.mark.parametrize(
    ("doc", "shown"),
    [
        ("[true]", "true is not an order ID"),
        ('[{"order_id": false}]', "false is not an order ID"),
        ("[null]", "null is not an order ID"),
        ("[1.5]", "'1.5' is not an order ID"),
        ("[1e3]", "'1e3' is not an order ID"),
        ("[-1]", "'-1' is not an order ID"),
        ("[0]", "'0' is not an order ID"),
        ("[NaN]", "'NaN' is not an order ID"),
        ("[9223372036854775808]", "'9223372036854775808' is larger than 9223372036854775807"),
        ('[""]', "'' is not an order ID (it is empty)"),
        ('[" 12"]', "' 12' is not an order ID"),
        ('[{"order_id": [1]}]', "a list is not an order ID"),
        ('[{"client_order_id": {"a": 1}}]', "an object is not a client order ID"),
    ],
)
def test_bad_json_ids(tmp_path: Path, doc: str, shown: str) -> None:
    path = write(tmp_path, "x.json", doc)
    usage_error(f"file {path} at [0]", shown, files=[path])


@pytest.mark.parametrize(
    "doc",
    ['["1", "2"', "[1,,2]", '{"order_id": }', "[1] garbage", "{'order_id': 1}"],
)
def test_malformed_json(tmp_path: Path, doc: str) -> None:
    path = write(tmp_path, "x.json", "\n" + doc)
    usage_error(f"file {path} line 2 column ", "not valid JSON (", files=[path])


def test_deeply_nested_json_is_an_error_not_a_crash(tmp_path: Path) -> None:
    usage_error("nested", files=[write(tmp_path, "a.json", "[" * 100_000)])
    usage_error("nested", files=[write(tmp_path, "b.json", "[" * 100 + "1" + "]" * 100)])


def test_json_without_ids(tmp_path: Path) -> None:
    path = write(tmp_path, "x.json", '{"status": "ok", "data": {"orders": [], "total_size": 0}}')
    usage_error(f"file {path} holds no IDs (looked for order_id_str", files=[path])
    usage_error("holds no IDs", files=[write(tmp_path, "y.json", "[]")])


def test_odd_json_keys_are_quoted_in_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "x.json", '{"a b": {"c": [{"order_id": "x"}]}}')
    usage_error(f'file {path} at ["a b"].c[0].order_id: ', files=[path])


# --- standard input ------------------------------------------------------------------------------


def test_stdin_via_dash() -> None:
    request = from_stdin("1\n2,3 # comment\n")
    assert values(request) == ["1", "2", "3"]
    assert usage_error("stdin line 2: 'x'", files=["-"], stdin=io.StringIO("1\nx\n")).startswith(
        "stdin line 2: "
    )


def test_stdin_json_and_csv() -> None:
    assert values(from_stdin('{"results": [{"order_id": "8"}]}')) == ["8"]
    assert values(from_stdin("order_id\n9\n")) == ["9"]
    assert values(from_stdin("\ufeff10\n")) == ["10"]


def test_stdin_dash_with_other_inputs_even_on_a_terminal(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "2")
    request = parse_inputs("BTC-USDT", ["1"], files=["-", path], stdin=io.StringIO("3"), stdin_is_tty=True)
    assert values(request) == ["1", "3", "2"]


def test_implicit_stdin() -> None:
    stdin = io.StringIO('{"order_id": "5"}\n{"client_order_id": "6"}\n')
    request = parse_inputs("eth-usdt", stdin=stdin, stdin_is_tty=False)
    assert request == CancelRequest("ETH-USDT", refs((ORD, "5"), (CLI, "6")), 0)
    request = parse_inputs("BTC-USDT", stdin=io.StringIO("7 8"), stdin_is_tty=False, client_ids=True)
    assert request.orders == refs((CLI, "7"), (CLI, "8"))


def test_implicit_stdin_not_read_when_ids_given() -> None:
    stdin = io.StringIO("2\n")
    assert values(parse_inputs("BTC-USDT", ["1"], stdin=stdin, stdin_is_tty=False)) == ["1"]
    assert stdin.tell() == 0


def test_implicit_stdin_empty() -> None:
    usage_error(
        "no order IDs given (use -o, -c, -f or standard input)",
        "standard input is empty",
        stdin=io.StringIO(""),
        stdin_is_tty=False,
    )


def test_implicit_stdin_errors_name_stdin() -> None:
    usage_error("stdin line 1: 'x'", stdin=io.StringIO("x"), stdin_is_tty=False)
    usage_error("stdin holds no IDs", stdin=io.StringIO("# only a comment"), stdin_is_tty=False)


def test_dash_twice_and_missing_stdin() -> None:
    usage_error("-f - given more than once", files=["-", "-"], stdin=io.StringIO("1"))
    usage_error("standard input is not available", files=["-"], stdin=None)
    usage_error("stdin is empty", files=["-"], stdin=io.StringIO(""))


def test_undecodable_stdin() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"1\n\xff\n"), encoding="utf-8")
    usage_error("stdin is not valid utf-8 text", files=["-"], stdin=stdin)


# --- properties ----------------------------------------------------------------------------------

_SEPARATOR = re.compile(r"[,\s]+")
_CANONICAL = re.compile(r"[1-9][0-9]*", re.ASCII)


def _oracle_is_id(token: str) -> bool:
    """An independent statement of the rule: canonical decimal, value in 1..2**63-1."""
    return _CANONICAL.fullmatch(token) is not None and int(token) <= 2**63 - 1


def _check_flag_text(text: str) -> None:
    tokens = [token for token in _SEPARATOR.split(text) if token]
    try:
        request = parse_inputs("BTC-USDT", [text])
    except UsageError as exc:
        assert not tokens or not all(_oracle_is_id(token) for token in tokens)
        assert "\n" not in str(exc)
        assert str(exc).startswith("--order-id: ")
        return
    assert tokens and all(_oracle_is_id(token) for token in tokens)
    distinct = list(dict.fromkeys(tokens))
    assert request.orders == orders(*distinct)
    assert request.duplicates_dropped == len(tokens) - len(distinct)


@given(st.text())
def test_any_flag_text_parses_exactly_or_is_refused(text: str) -> None:
    _check_flag_text(text)


_ID_LIKE = st.lists(
    st.one_of(
        st.integers(min_value=-10, max_value=2**64).map(str),
        st.sampled_from([",", " ", "\t", "\n", ", ", "\u00a0", "\u2003", "\x1c", ",,"]),
        st.text(alphabet="0123456789.,-+ e", max_size=6),
    ),
    max_size=12,
).map("".join)


@given(_ID_LIKE)
def test_id_like_flag_text_parses_exactly_or_is_refused(text: str) -> None:
    _check_flag_text(text)


@given(
    st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80),
        st.integers(min_value=2**63 - 1000, max_value=2**63 + 1000),
        st.integers(min_value=-5, max_value=5),
    )
)
def test_integer_text_accepted_iff_in_range(n: int) -> None:
    accepted = 1 <= n <= 2**63 - 1
    assert is_valid_id(str(n)) is accepted
    try:
        request = parse_inputs("BTC-USDT", [str(n)])
    except UsageError:
        assert not accepted
    else:
        assert accepted
        assert request.orders == orders(str(n))


def test_max_id_constant() -> None:
    assert MAX_ID == 2**63 - 1


# --- scale and layering --------------------------------------------------------------------------


def _many_ids(count: int) -> list[str]:
    # Deterministic, distinct, 19 digits, spread over the whole range.
    return [str(MAX_ID - i * 9_000_000_000_007) for i in range(count)]


@pytest.mark.parametrize("form", ["text", "json", "csv", "jsonl"])
def test_one_hundred_thousand_ids(tmp_path: Path, form: str) -> None:
    ids = _many_ids(100_000)
    texts: dict[str, str] = {
        "text": "\n".join(ids),
        "json": "[" + ",".join(ids) + "]",
        "csv": "order_id\n" + "\n".join(ids),
        "jsonl": "\n".join(f'{{"order_id":"{i}"}}' for i in ids),
    }
    request = parse_inputs("BTC-USDT", files=[write(tmp_path, f"ids.{form}", texts[form])])
    assert values(request) == ids
    assert request.duplicates_dropped == 0


def test_duplicates_at_scale() -> None:
    ids = _many_ids(1000)
    request = parse_inputs("BTC-USDT", [" ".join(ids * 3)])
    assert values(request) == ids
    assert request.duplicates_dropped == 2000


def test_inputs_imports_no_ui_or_network_library() -> None:
    code = (
        "import sys, htx_cancel.inputs\n"
        "bad = [m for m in ('typer', 'rich', 'websocket', 'click') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
