"""Report encodings: exact decimal strings, totals, CSV and JSON pieces that join into valid
documents, and no spreadsheet formulas from free text."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from balance_manager.domain import money
from balance_manager.domain.report_formats import (
    CsvWriter,
    Heading,
    JsonWriter,
    LedgerLine,
    RechargeLine,
    ReportKind,
    Totals,
    amount,
)

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ledger(entry_id: int, minor: int, currency: str = "usd", **kw: str) -> LedgerLine:
    return LedgerLine(
        entry_id=entry_id,
        created_at=AT,
        user_id="u1",
        currency=currency,
        kind=kw.get("kind", "usage"),
        amount=minor,
        balance_after=minor,
        reference=kw.get("reference", f"r{entry_id}"),
        description=kw.get("description"),
    )


def recharge(status: str, minor: int, fee: int, currency: str = "usd") -> RechargeLine:
    return RechargeLine(
        recharge_id=f"rc-{status}",
        user_id="u1",
        created_at=AT,
        completed_at=None,
        status=status,
        triggered_by="auto",
        trigger_detail="usage",
        currency=currency,
        amount=minor,
        fee=fee,
        total_charge=minor + fee,
        payment_intent_id=None,
        failure_code=None,
    )


def test_amounts_are_exact_major_unit_strings() -> None:
    assert amount(66885, "usd") == "668.85"
    assert amount(-5000, "usd") == "-50.00"
    assert amount(0, "usd") == "0.00"
    assert amount(5454, "jpy") == "5454"
    assert amount(1234, "kwd") == "1.234"
    assert amount(10**14 - 1, "usd") == "999999999999.99"


@given(st.lists(st.integers(min_value=-(10**13), max_value=10**13), max_size=50))
def test_ledger_totals_are_the_exact_sum_of_the_rows(amounts: list[int]) -> None:
    totals = Totals(ReportKind.LEDGER)
    totals.add([ledger(i, a) for i, a in enumerate(amounts) if a])
    if not any(amounts):
        assert totals.table() == []
        return
    (row,) = totals.table()
    assert row["net_change"] == amount(sum(amounts), "usd")


def test_recharge_totals_count_every_status_and_sum_succeeded_only() -> None:
    totals = Totals(ReportKind.RECHARGES)
    totals.add(
        [
            recharge("succeeded", 65000, 1885),
            recharge("succeeded", 100, 3),
            recharge("failed", 65000, 1885),
            recharge("succeeded", 5300, 154, "jpy"),
        ]
    )
    usd = totals.table()[1]
    assert (usd["records"], usd["succeeded"], usd["failed"], usd["canceled"]) == (
        "3",
        "2",
        "1",
        "0",
    )
    assert (usd["charged_total"], usd["fees"], usd["credited"]) == ("669.88", "18.88", "651.00")
    assert totals.table()[0]["charged_total"] == "5454"


def _document(writer: CsvWriter | JsonWriter, batches: list[list[LedgerLine]]) -> str:
    totals = Totals(ReportKind.LEDGER)
    parts = [writer.begin(Heading(ReportKind.LEDGER, AT, AT, AT))]
    for batch in batches:
        totals.add(batch)
        parts.append(writer.rows(batch))
    parts.append(writer.end(totals))
    return "".join(parts)


def test_json_pieces_join_into_one_document_whatever_the_batches() -> None:
    lines = [ledger(i, -100 * i) for i in range(1, 6)]
    for batches in ([], [lines], [lines[:2], [], lines[2:]], [[x] for x in lines]):
        body = json.loads(_document(JsonWriter(ReportKind.LEDGER), batches))
        flat = [x for b in batches for x in b]
        assert [r["entryId"] for r in body["rows"]] == [x.entry_id for x in flat]
        assert body["rowCount"] == len(flat)
        assert body["from"] == AT.isoformat()


def test_csv_free_text_cannot_become_a_formula() -> None:
    text = _document(
        CsvWriter(ReportKind.LEDGER),
        [
            [
                ledger(1, -100, reference='=HYPERLINK("http://x")', description='+1, "quoted"'),
                ledger(2, -100, reference="@SUM(A1)", description="plain, with comma"),
            ]
        ],
    )
    rows = list(csv.DictReader(io.StringIO(text.partition("\r\n\r\n")[0])))
    assert rows[0]["reference"] == '\'=HYPERLINK("http://x")'
    assert rows[0]["description"] == '\'+1, "quoted"'
    assert rows[0]["amount"] == "-1.00"  # money keeps its sign
    assert rows[1]["reference"] == "'@SUM(A1)" and rows[1]["description"] == "plain, with comma"


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["usd", "jpy", "kwd"]))
def test_amount_is_money_to_major_written_out(minor: int, code: str) -> None:
    assert amount(minor, code) == format(money.to_major(minor, money.currency(code)), "f")


def test_line_fields_are_the_store_query_columns_in_order() -> None:
    from balance_manager.store import reports as store

    start = end = AT
    recharge_columns = [c.name for c in store.recharges_query(start, end).selected_columns]
    assert recharge_columns == ["id", *RechargeLine._fields[1:]]
    ledger_columns = [c.name for c in store.ledger_query(start, end).selected_columns]
    assert ledger_columns == ["id", *LedgerLine._fields[1:]]
