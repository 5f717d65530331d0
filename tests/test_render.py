"""Renderers: the JSON contract scripts depend on, and text that prints exactly as it came."""

from __future__ import annotations

import io
import json

from htx_cancel.models import OrderResult, Report, State
from htx_cancel.render import render_csv, render_json, render_jsonl, render_table

ROWS = (
    OrderResult("1", "9", State.CANCELLED, 200, "成功", 1),
    OrderResult(None, "7", State.REJECTED, 1067, "Illegal parameter [/contract_code] :smile:", 2),
)
REPORT = Report("BTC-USDT", "wss://api.hbdm.com/linear-swap-trade", False, 12, 1, ROWS)


def test_json_document_keys_are_pinned() -> None:
    doc = json.loads(render_json(REPORT))
    assert list(doc) == [
        "contract_code",
        "url",
        "simulated",
        "elapsed_ms",
        "duplicates_dropped",
        "summary",
        "results",
    ]
    assert list(doc["summary"]) == [s.value for s in State]
    assert doc["results"][1] == {
        "order_id": None,
        "client_order_id": "7",
        "state": "rejected",
        "code": 1067,
        "message": "Illegal parameter [/contract_code] :smile:",
        "attempts": 2,
    }
    assert doc["results"][0]["message"] == "成功"
    assert render_json(REPORT).isascii()  # safe on any terminal encoding, same JSON to jq


def test_jsonl_and_csv_carry_the_same_fields() -> None:
    lines = [json.loads(line) for line in render_jsonl(REPORT).splitlines()]
    assert lines == json.loads(render_json(REPORT))["results"]
    assert render_csv(REPORT).splitlines()[0] == "order_id,client_order_id,state,code,message,attempts"


def test_table_prints_exchange_text_literally() -> None:
    out = io.StringIO()
    render_table(REPORT, out, no_color=True)
    text = out.getvalue()
    assert "Illegal parameter [/contract_code] :smile:" in text
    assert "\x1b[" not in text
    assert "1 cancelled, 1 rejected in 12 ms" in text
