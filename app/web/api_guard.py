"""What the REST API refuses before it reaches the database, and how database refusals read.

Every check here turns a malformed request into a reason the client can act on (a 4xx), where
it would otherwise surface as a driver error and a 500: ids past the column's integer range,
rison that the parser chokes on, negative pages, text PostgreSQL cannot store (NUL, unpaired
surrogates), numbers no column holds. Nothing here catches a bug: only the named input errors.
"""

from __future__ import annotations

import json
import math
import re
import urllib.parse
from typing import Any

import prison
from sqlalchemy import BigInteger, Integer, SmallInteger, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Mapper

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)
MAX_PAGE = 2**31 - 1  # page and page_size: their product must still fit a bigint OFFSET
DIGITS = re.compile(r"-?[0-9]+")  # ASCII only: int() would also take "١٢" or " 1 "
# rison's decoder raises these besides ParserException on truncated numbers ("1.5e"), a lone
# "!" or deep nesting; FAB's @rison only catches ParserException and answers the rest with 500.
RISON_ERRORS = (ValueError, LookupError, TypeError, RecursionError)


class MalformedInput(ValueError):
    """The request cannot be understood as sent: answered with 400 and this reason."""


def id_bounds(column: Any) -> tuple[int, int]:
    """The values an integer key column can hold (PostgreSQL refuses the rest with an error)."""
    col_type = getattr(column, "type", None)
    if isinstance(col_type, BigInteger):
        return INT64
    if isinstance(col_type, SmallInteger):
        return (-(2**15), 2**15 - 1)
    if isinstance(col_type, Integer):
        return INT32
    return INT64


def primary_key_column(model: type) -> Any:
    mapper: Mapper[Any] = sa_inspect(model)
    keys = mapper.primary_key
    return keys[0] if len(keys) == 1 else None


def parse_id(value: Any, column: Any) -> int | None:
    """A path id as an int, None when it is an integer no row can have (so: 404).

    Raises MalformedInput when it is not an integer at all (so: 400).
    """
    if isinstance(value, str):
        if not DIGITS.fullmatch(value):
            raise MalformedInput("the id in the path must be an integer")
        value = int(value)
    low, high = id_bounds(column)
    return value if low <= value <= high else None


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "text may not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text may not contain unpaired surrogates (invalid Unicode)"
    return None


def _number_problem(number: float) -> str | None:
    if isinstance(number, bool):
        return None
    if isinstance(number, int):
        return None if INT64[0] <= number <= INT64[1] else "a number is out of range"
    return None if math.isfinite(number) else "numbers must be finite"


def check_values(data: Any) -> None:
    """Every string and number in a decoded JSON/rison value is one the database can store.

    Iterative, so a deeply nested document cannot exhaust the stack here.
    """
    stack = [data]
    while stack:
        item = stack.pop()
        problem = None
        if isinstance(item, str):
            problem = _text_problem(item)
        elif isinstance(item, (int, float)):
            problem = _number_problem(item)
        elif isinstance(item, dict):
            for key, value in item.items():
                if isinstance(key, str) and (problem := _text_problem(key)):
                    break
                stack.append(value)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        if problem:
            raise MalformedInput(problem)


def _check_paging(data: Any) -> None:
    """`page` / `page_size` wherever they appear (the list, and `_info`'s related columns)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in ("page", "page_size"):
                if key in item:
                    value = item[key]
                    if type(value) is not int or not 0 <= value <= MAX_PAGE:
                        raise MalformedInput(f"{key} must be a whole number from 0 to {MAX_PAGE}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse_rison(value: str, allow_json: bool = True) -> Any:
    """Decode `q` the way FAB's @rison does (rison, then JSON), refusing what it would crash on."""
    try:
        return prison.loads(value)
    except prison.decoder.ParserException:
        if not allow_json:
            raise MalformedInput("q is not valid rison") from None
    except RISON_ERRORS:
        raise MalformedInput("q is not valid rison (or JSON)") from None
    try:
        return json.loads(urllib.parse.parse_qs(f"q={value}")["q"][0])
    except (ValueError, LookupError, RecursionError):
        raise MalformedInput("q is not valid rison (or JSON)") from None


def check_query_arg(value: str, allow_json: bool = True) -> None:
    """The rison `q` argument: parseable, storable values, paging within range."""
    data = parse_rison(value, allow_json)
    _check_paging(data)
    check_values(data)


def missing_references(session: Any, model: type, data: dict[str, Any]) -> dict[str, list[str]]:
    """Foreign keys in loaded write data that name no row, as `{"page_id": ["no such page"]}`.

    Checked in the schema rather than left to the database: SQLite does not enforce foreign
    keys, and the answer must be the same 422 on both backends.
    """
    problems: dict[str, list[str]] = {}
    mapper: Mapper[Any] = sa_inspect(model)
    for column in mapper.columns:
        value = data.get(column.key)
        if not column.foreign_keys or type(value) is not int:
            continue
        target = next(iter(column.foreign_keys)).column
        low, high = id_bounds(target)
        exists = low <= value <= high and session.execute(select(target).where(target == value).limit(1)).first()
        if not exists:
            problems[column.key] = [f"no such {target.table.name.removeprefix('ab_')}"]
    return problems


def _columns_in(text: str) -> str:
    """Column names from a unique-violation message, both drivers' wordings."""
    match = re.search(r"Key \(([^)]*)\)=", text)  # PostgreSQL: Key (fb_page_id)=(1) already exists
    if match:
        return match.group(1)
    match = re.search(r"UNIQUE constraint failed: (.+)", text)  # SQLite: page.fb_page_id, ...
    if match:
        return ", ".join(part.strip().split(".")[-1] for part in match.group(1).split(","))
    return "a unique value"


def _integrity_refusal(exc: IntegrityError) -> tuple[int, str]:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or ""
    text = str(orig)
    if state == "23505" or "UNIQUE constraint failed" in text:
        return 409, f"{_columns_in(text)}: already taken by another record"
    if state == "23503" or "FOREIGN KEY constraint failed" in text:
        return 422, "refers to a record that does not exist, or the record is still referenced"
    if state == "23502" or "NOT NULL constraint failed" in text:
        return 422, "a required field is missing"
    return 422, "the change breaks a rule of the data (a constraint)"


def database_refusal(exc: BaseException) -> tuple[int, str] | None:
    """(status, reason) for a database error caused by the request's data; None for anything else.

    The reason names the columns but never echoes SQL or stored values.
    """
    if isinstance(exc, IntegrityError):
        return _integrity_refusal(exc)
    if isinstance(exc, DataError):
        return 400, "a value is out of range or not valid for its field"
    return None
