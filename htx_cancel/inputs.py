"""Flags, files and standard input -> one validated `CancelRequest` (SPEC section 1).

Every ID the user typed or piped is checked here, before any frame is built, because nothing
may be sent while any input is wrong. Errors are `UsageError`s whose one-line message names the
offending value and where it came from (flag, or file and line), so a user can fix the input
without guessing. Pure: no network, no printing, no Typer or Rich, so the core stays importable
and testable on its own.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import IO, AnyStr, Final, TextIO

from htx_cancel.errors import UsageError
from htx_cancel.models import CancelRequest, IdKind, OrderRef

MAX_ID: Final = 9_223_372_036_854_775_807
"""The largest ID HTX can hold (a signed 64-bit integer); anything larger is a typo."""

ORDER_KEYS: Final = ("order_id_str", "order_id", "orderId")
"""Order-ID fields in preference order: HTX sends `order_id_str` beside a numeric `order_id`
because JavaScript readers lose digits of the number, so the string is the safer copy."""

CLIENT_KEYS: Final = ("client_order_id", "clientOrderId")
ID_KEYS: Final = frozenset(ORDER_KEYS + CLIENT_KEYS)

STDIN_PATH: Final = "-"
MAX_INPUT_BYTES: Final = 64 * 1024 * 1024
"""Refuse bigger inputs rather than exhaust memory on a mistaken `-f /dev/zero` or a huge log;
64 MiB is millions of IDs, far beyond any batch worth cancelling in one run."""

MAX_JSON_DEPTH: Final = 64
"""HTX answers nest four levels deep; the limit keeps the walk far below Python's recursion limit."""

_READ_CHUNK: Final = 1024 * 1024
_MAX_ID_TEXT: Final = str(MAX_ID)
_MAX_ID_DIGITS: Final = len(_MAX_ID_TEXT)
_SHOW_LIMIT: Final = 40
_WHOLE_NUMBER: Final = "must be a positive whole number"
_NOUNS: Final = {IdKind.ORDER: "order ID", IdKind.CLIENT: "client order ID"}
_A_NOUNS: Final = {IdKind.ORDER: "an order ID", IdKind.CLIENT: "a client order ID"}

# ASCII only: with IGNORECASE alone, the Kelvin sign would match "k" and slip past as a letter.
_CONTRACT_CODE: Final = re.compile(r"[A-Z0-9]{1,20}-[A-Z]{2,10}(?:-[0-9]{6})?", re.ASCII | re.IGNORECASE)
_LEADING_SPACE: Final = re.compile(r"\s*")
_JSON_SPACE: Final = re.compile(r"[ \t\n\r]*")
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)

# Numbers stay decimal text: a 19-digit ID must survive byte for byte, and a float never appears.
# NaN/Infinity become text too, so they are reported as bad IDs rather than as floats.
_JSON_DECODER: Final = json.JSONDecoder(parse_int=str, parse_float=str, parse_constant=str)

_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")

JsonPath = tuple[str | int, ...]


def parse_inputs(
    contract_code: str,
    order_ids: Sequence[str] = (),
    client_order_ids: Sequence[str] = (),
    files: Sequence[str] = (),
    client_ids: bool = False,
    max_orders: int | None = None,
    stdin: TextIO | None = None,
    stdin_is_tty: bool = True,
) -> CancelRequest:
    """Validate every input and return the request, or raise `UsageError` with nothing sent.

    IDs keep the order of their first appearance: `-o` values, then `-c` values, then files in
    the order given. Duplicates (per kind) are dropped and counted.
    """
    code = parse_contract_code(contract_code)
    out = _Collector()
    for value in order_ids:
        _add_flag_value(value, IdKind.ORDER, "--order-id", out)
    for value in client_order_ids:
        _add_flag_value(value, IdKind.CLIENT, "--client-order-id", out)

    bare_kind = IdKind.CLIENT if client_ids else IdKind.ORDER
    if files:
        stdin_read = False
        for path in files:
            if path == STDIN_PATH:
                if stdin_read:
                    raise UsageError("-f - given more than once (standard input can be read once)")
                stdin_read = True
                _add_document(_read_stdin(stdin), "stdin", bare_kind, out)
            else:
                label = _file_label(path)
                _add_document(_read_file(path, label), label, bare_kind, out)
    elif not order_ids and not client_order_ids:
        if stdin is None or stdin_is_tty:
            raise UsageError("no order IDs given (use -o, -c, -f or standard input)")
        text = _read_stdin(stdin)
        if not text.strip():
            # Name the real cause: a script that meant to pipe IDs piped nothing.
            raise UsageError("no order IDs given (use -o, -c, -f or standard input); standard input is empty")
        _add_document(text, "stdin", bare_kind, out)

    count = len(out.refs)
    if max_orders is not None and count > max_orders:
        noun = "ID" if count == 1 else "IDs"
        raise UsageError(f"{count} distinct {noun} given, more than --max-orders {max_orders}; nothing sent")
    return CancelRequest(code, tuple(out.refs), out.duplicates)


def parse_contract_code(value: str) -> str:
    """Accept `BASE-QUOTE` or `BASE-QUOTE-YYMMDD` in any case; HTX wants it upper-case."""
    if _CONTRACT_CODE.fullmatch(value) is None:
        raise UsageError(
            f"contract code {_show(value)} is not valid (expected e.g. BTC-USDT or BTC-USDT-250627)"
        )
    return value.upper()


def is_valid_id(text: str) -> bool:
    """True for the canonical decimal text of an integer in 1..2**63-1.

    Canonical means no sign, no leading zero and ASCII digits only, so the text is the integer:
    two spellings of one order cannot slip past the duplicate check. String tests only, no
    `int()` and no exception per ID, because this runs once per ID on inputs of 100,000 IDs.
    """
    return (
        text.isdigit()
        and text.isascii()
        and text[0] != "0"
        and (len(text) < _MAX_ID_DIGITS or (len(text) == _MAX_ID_DIGITS and text <= _MAX_ID_TEXT))
    )


class _Collector:
    """Accumulates IDs in first-seen order, dropping duplicates per kind.

    An order ID and a client order ID with the same digits are different orders, hence one seen
    set per kind. `added` counts every ID offered, duplicates included, so a source that held
    only repeats of earlier IDs is still recognised as not empty.
    """

    __slots__ = ("added", "client_seen", "duplicates", "order_seen", "refs")

    def __init__(self) -> None:
        self.refs: list[OrderRef] = []
        self.duplicates = 0
        self.added = 0
        # Two plain sets rather than a dict keyed by IdKind: hashing an Enum member runs Python
        # code, which doubled the cost of each ID on 100,000-ID inputs.
        self.order_seen: set[str] = set()
        self.client_seen: set[str] = set()

    def add(self, kind: IdKind, value: str) -> None:
        self.added += 1
        seen = self.order_seen if kind is IdKind.ORDER else self.client_seen
        if value in seen:
            self.duplicates += 1
        else:
            seen.add(value)
            self.refs.append(OrderRef(kind, value))


def _add_flag_value(value: str, kind: IdKind, origin: str, out: _Collector) -> None:
    """One `-o`/`-c` value may carry several IDs (`-o 1,2 -o "3 4"`); an empty one is a mistake."""
    tokens = value.replace(",", " ").split()
    if not tokens:
        # Most often `-o "$IDS"` with an unset variable: worth stopping for, not ignoring.
        raise UsageError(f"{origin}: {_show(value)} holds no {_NOUNS[kind]}")
    for token in tokens:
        if not is_valid_id(token):
            raise UsageError(f"{origin}: {_why_not(token, kind)}")
        out.add(kind, token)


# --- reading -------------------------------------------------------------------------------------


def _file_label(path: str) -> str:
    """How a file is named in messages; repr only when the name would break the one-line rule."""
    return f"file {path}" if path.isprintable() else f"file {path!r}"


def _read_file(path: str, label: str) -> str:
    """Read a whole ID file as text, turning every way it can fail into a message naming it."""
    try:
        with open(path, "rb") as handle:
            data = _read_capped(handle)
    except FileNotFoundError:
        raise UsageError(f"{label} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"{label} is a directory, not a file of IDs") from None
    except PermissionError:
        raise UsageError(f"{label} cannot be read (permission denied)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{label} cannot be read ({_one_line(reason)})") from None
    if data is None:
        raise UsageError(f"{label} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    # Windows PowerShell 5 redirects (`> ids.txt`) write UTF-16 with a BOM; accept it, it is
    # unambiguous. `utf-8-sig` drops the BOM that Excel puts before a CSV header.
    utf16 = data.startswith(_UTF16_BOMS)
    try:
        text = data.decode("utf-16" if utf16 else "utf-8-sig")
    except UnicodeDecodeError as exc:
        name = "UTF-16" if utf16 else "UTF-8"
        raise UsageError(
            f"{label} is not {name} text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    return _normalise_newlines(text)


def _read_stdin(stdin: TextIO | None) -> str:
    """Read standard input once, with the same size limit and error wording as a file."""
    if stdin is None:
        raise UsageError("-f -: standard input is not available")
    try:
        text = _read_capped(stdin)
    except UnicodeDecodeError as exc:
        raise UsageError(f"stdin is not valid {exc.encoding} text") from None
    except (OSError, ValueError) as exc:  # ValueError: stdin already closed
        raise UsageError(f"stdin cannot be read ({_one_line(str(exc))})") from None
    if text is None:
        raise UsageError(f"stdin is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB")
    return _normalise_newlines(text.removeprefix("\ufeff"))


def _read_capped(handle: IO[AnyStr]) -> AnyStr | None:
    """Everything in `handle`, or None past the size limit.

    Read in chunks because `read(limit)` allocates the whole limit up front, and plain `read()`
    would never return on an endless stream such as `/dev/zero`.
    """
    chunks: list[AnyStr] = []
    total = 0
    while chunk := handle.read(_READ_CHUNK):
        total += len(chunk)
        if total > MAX_INPUT_BYTES:
            return None
        chunks.append(chunk)
    if not chunks:
        return handle.read(0)  # the empty value of the right type
    return chunks[0][:0].join(chunks)


def _normalise_newlines(text: str) -> str:
    """Line numbers in messages count lines as editors do, whatever the line endings."""
    if "\r" in text:
        return text.replace("\r\n", "\n").replace("\r", "\n")
    return text


# --- formats -------------------------------------------------------------------------------------


def _add_document(text: str, label: str, bare_kind: IdKind, out: _Collector) -> None:
    """Detect the format by content (extensions lie, and stdin has none) and collect its IDs."""
    start = _LEADING_SPACE.match(text)
    begin = start.end() if start else 0
    if begin == len(text):
        raise UsageError(f"{label} is empty")
    before = out.added
    first_line_end = text.find("\n", begin)
    first_line = text[begin:] if first_line_end < 0 else text[begin:first_line_end]
    if text[begin] in "{[":
        _add_json(text, begin, label, bare_kind, out)
        hint = f" (looked for {', '.join(ORDER_KEYS + CLIENT_KEYS)})"
    elif (header := _csv_header(first_line)) is not None:
        _add_csv(text, begin, header, label, out)
        hint = ""
    else:
        _add_text(text, label, bare_kind, out)
        hint = ""
    if out.added == before:
        raise UsageError(f"{label} holds no IDs{hint}")


def _add_text(text: str, label: str, kind: IdKind, out: _Collector) -> None:
    """Plain text: IDs split by lines, commas or white space; `#` comments to end of line."""
    for number, raw_line in enumerate(text.split("\n"), start=1):
        line = raw_line.partition("#")[0] if "#" in raw_line else raw_line
        for token in line.replace(",", " ").split():
            if not is_valid_id(token):
                raise UsageError(f"{label} line {number}: {_why_not(token, kind)}")
            out.add(kind, token)


def _csv_header(line: str) -> list[str] | None:
    """The stripped column names when the first non-empty line is a CSV header naming an ID."""
    if not any(key in line for key in ID_KEYS):
        return None  # cheap exit for plain text
    try:
        fields = next(csv.reader([line], skipinitialspace=True, strict=True))
    except (csv.Error, StopIteration):
        return None
    names = [field.strip() for field in fields]
    return names if ID_KEYS.intersection(names) else None


def _add_csv(text: str, begin: int, header: list[str], label: str, out: _Collector) -> None:
    """CSV with a header: one ID per row, from the first non-empty ID column in preference order.

    An empty cell means "none" (CSV has no null), so `htx-cancel --output csv` rows whose
    order ID is unknown fall back to the client order ID.
    """
    order_columns = [header.index(key) for key in ORDER_KEYS if key in header]
    client_columns = [header.index(key) for key in CLIENT_KEYS if key in header]
    columns = [(IdKind.ORDER, index) for index in order_columns]
    columns += [(IdKind.CLIENT, index) for index in client_columns]
    line_offset = text.count("\n", 0, begin)
    reader = csv.reader(io.StringIO(text[begin:]), skipinitialspace=True, strict=True)
    try:
        next(reader)  # the header, already parsed
        for row in reader:
            found = _first_filled(row, columns)
            if found is None:
                if any(cell.strip() for cell in row):
                    raise UsageError(
                        f"{label} line {line_offset + reader.line_num}: no order ID or "
                        "client order ID in this row"
                    )
                continue  # a blank line
            kind, cell = found
            if not is_valid_id(cell):
                raise UsageError(f"{label} line {line_offset + reader.line_num}: {_why_not(cell, kind)}")
            out.add(kind, cell)
    except csv.Error as exc:
        raise UsageError(
            f"{label} line {line_offset + reader.line_num}: not valid CSV ({_one_line(str(exc))})"
        ) from None


def _first_filled(row: list[str], columns: list[tuple[IdKind, int]]) -> tuple[IdKind, str] | None:
    """The first non-empty ID cell of a CSV row, in key preference order."""
    for kind, index in columns:
        cell = row[index].strip() if index < len(row) else ""
        if cell:
            return kind, cell
    return None


def _add_json(text: str, begin: int, label: str, bare_kind: IdKind, out: _Collector) -> None:
    """A JSON document, or a sequence of them (JSON lines, or `jq` output without `-c`).

    Decoding value by value with `raw_decode` covers both with one code path, and a syntax
    error anywhere reports its true line and column.
    """
    values: list[tuple[object, int]] = []
    position = begin
    line = 1 + text.count("\n", 0, begin)
    try:
        while position < len(text):
            value, end = _JSON_DECODER.raw_decode(text, position)
            values.append((value, line))
            space = _JSON_SPACE.match(text, end)
            next_position = space.end() if space else end
            line += text.count("\n", position, next_position)
            position = next_position
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{label} line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
        ) from None
    except RecursionError:
        raise UsageError(f"{label}: JSON nested too deeply") from None
    sequence = len(values) > 1
    for value, value_line in values:
        where = f"{label} line {value_line}" if sequence else label
        _JsonWalk(where, bare_kind, out).walk(value, (), inside_object=False, depth=0)


class _JsonWalk:
    """Finds IDs in one decoded JSON value, wherever the producer nested them.

    An object with an ID key yields exactly one ID. Objects without ID keys are descended into,
    so both `{"results": [...]}` (our own `--json`) and `{"data": {"orders": [...]}}` (HTX
    open orders) work. Scalars are bare IDs only when reached through lists alone: inside an
    object, a stray number is a count or a timestamp, not an order.
    """

    __slots__ = ("bare_kind", "out", "where")

    def __init__(self, where: str, bare_kind: IdKind, out: _Collector) -> None:
        self.where = where
        self.bare_kind = bare_kind
        self.out = out

    def walk(self, node: object, path: JsonPath, *, inside_object: bool, depth: int) -> None:
        """Visit `node` in document order, so IDs keep the order the producer listed them in."""
        if depth > MAX_JSON_DEPTH:
            raise UsageError(f"{self._origin(path)}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(node, dict):
            if not ID_KEYS.isdisjoint(node):
                self._take(node, path)
                return
            for key, child in node.items():
                if isinstance(child, dict | list):
                    self.walk(child, (*path, key), inside_object=True, depth=depth + 1)
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, dict | list):
                    self.walk(child, (*path, index), inside_object=inside_object, depth=depth + 1)
                elif not inside_object:
                    self._bare(child, (*path, index))
        else:
            self._bare(node, path)  # a top-level scalar of a JSON sequence

    def _bare(self, value: object, path: JsonPath) -> None:
        if isinstance(value, str) and is_valid_id(value):
            self.out.add(self.bare_kind, value)
        else:
            raise UsageError(f"{self._origin(path)}: {_why_not(value, self.bare_kind)}")

    def _take(self, node: dict[str, object], path: JsonPath) -> None:
        """Use the first non-null order key, else the client key: an order ID is unambiguous."""
        for kind, keys in ((IdKind.ORDER, ORDER_KEYS), (IdKind.CLIENT, CLIENT_KEYS)):
            for key in keys:
                value = node.get(key)
                if value is None:
                    continue
                if not (isinstance(value, str) and is_valid_id(value)):
                    raise UsageError(f"{self._origin((*path, key))}: {_why_not(value, kind)}")
                self.out.add(kind, value)
                return
        present = [key for key in (*ORDER_KEYS, *CLIENT_KEYS) if key in node]
        verb = "is" if len(present) == 1 else "are all"
        raise UsageError(
            f"{self._origin(path)}: no order ID or client order ID ({', '.join(present)} {verb} null)"
        )

    def _origin(self, path: JsonPath) -> str:
        return f"{self.where} at {_format_path(path)}" if path else self.where


def _format_path(path: JsonPath) -> str:
    """`results[3].order_id`: the jq-like spelling users can paste to find the bad item."""
    parts: list[str] = []
    for step in path:
        if isinstance(step, int):
            parts.append(f"[{step}]")
        elif _IDENTIFIER.fullmatch(step):
            parts.append(f".{step}" if parts else step)
        else:
            shown = step if len(step) <= _SHOW_LIMIT else step[:_SHOW_LIMIT] + "..."
            parts.append(f"[{json.dumps(shown)}]")
    return "".join(parts)


# --- messages ------------------------------------------------------------------------------------


def _show(value: str) -> str:
    """Quote a value for a message: repr keeps it on one line, truncation keeps it readable."""
    if len(value) <= _SHOW_LIMIT:
        return repr(value)
    return f"{value[:_SHOW_LIMIT]!r}... ({len(value)} characters)"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _why_not(value: object, kind: IdKind) -> str:
    """Say what is wrong with a rejected ID; only runs on failure, so it may take its time."""
    an_id = _A_NOUNS[kind]
    if value is None:
        return f"null is not {an_id} ({_WHOLE_NUMBER})"
    if isinstance(value, bool):
        return f"{'true' if value else 'false'} is not {an_id} ({_WHOLE_NUMBER})"
    if isinstance(value, list):
        return f"a list is not {an_id} ({_WHOLE_NUMBER})"
    if isinstance(value, dict):
        return f"an object is not {an_id} ({_WHOLE_NUMBER})"
    text = str(value)
    shown = _show(text)
    if not text:
        return f"{shown} is not {an_id} (it is empty)"
    if text.isascii() and text.isdigit():
        if not text.strip("0"):
            return f"{shown} is not {an_id} ({_WHOLE_NUMBER}, not zero)"
        if text[0] == "0":
            # Some tools read 010 as octal 8; refusing is safer than guessing which was meant.
            return f"{shown} is not {an_id} (a leading zero is ambiguous)"
        return f"{shown} is larger than {MAX_ID}"
    if text.isdigit():
        return f"{shown} is not {an_id} (only the ASCII digits 0-9 may be used)"
    whole, point, fraction = text.partition(".")
    if point and (whole + fraction).isascii() and (whole + fraction).isdigit():
        return f"{shown} is not {an_id} ({_WHOLE_NUMBER}, without a decimal point)"
    return f"{shown} is not {an_id} ({_WHOLE_NUMBER})"
