"""How reports look: their columns, their totals, and CSV and JSON encodings, written piece
by piece so a report streams. Pure: no I/O; the use case (``usecases.reports``) feeds it.

Money is an exact decimal string in major units of the row's currency (``"668.85"``,
``"-50.00"``, ``"650"`` for JPY). Times are ISO 8601 in UTC.

**Recharge report**, one row per recharge record opened in the period:

    recharge_id, user_id, created_at, completed_at, status, triggered_by, trigger_detail,
    currency, amount (credited to the balance), fee (the card fee the customer paid on top),
    total_charge (amount + fee: what the card is charged), payment_intent_id, failure_code

and per currency: the number of records by status, and over ``succeeded`` records only
``charged_total`` (Σ total_charge: the gross Stripe collected), ``fees`` (Σ fee) and
``credited`` (Σ amount), so ``charged_total = credited + fees`` exactly.

**Ledger report**, one row per ledger entry written in the period:

    entry_id, created_at, user_id, currency, kind, amount (signed), balance_after,
    reference, description

and per currency: the number and sum of entries of each kind and the net change.

CSV: the rows under a header, then a blank line, a line ``totals`` and the totals under
their own header. JSON: ``{"report", "from", "to", "generatedAt", "rows": [...],
"rowCount", "totals": [...]}`` with camelCase keys.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

from balance_manager.domain import money
from balance_manager.domain.states import LedgerKind, RechargeStatus


class ReportKind(StrEnum):
    RECHARGES = "recharges"
    LEDGER = "ledger"


class ReportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ReportFormat.CSV else "application/json"


@lru_cache(maxsize=64)
def _exponent(code: str) -> int:
    return money.currency(code).exponent


def amount(minor: int, code: str) -> str:
    """Minor units as an exact major-unit decimal string (``66885`` usd → ``"668.85"``):
    ``money.to_major`` written out with integer arithmetic, as this runs twice per row of a
    million-row report (the unit tests hold the two equal)."""
    exponent = _exponent(code)
    if exponent == 0:
        return str(minor)
    whole, part = divmod(abs(minor), 10**exponent)
    return "%s%d.%0*d" % ("-" if minor < 0 else "", whole, exponent, part)  # noqa: UP031


def _formula_safe(text: str | None) -> str | None:
    """Free text from the operator's application (references, descriptions) for a CSV cell:
    a spreadsheet runs a cell that begins with one of ``=+-@`` (or a tab or CR) as a formula,
    so such a cell gets a leading apostrophe."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


Cell = str | int | None


# --- rows ----------------------------------------------------------------------------------
# Named tuples in the store query's column order (``store.reports``), so a row becomes a
# line without a per-field copy.


class RechargeLine(NamedTuple):
    recharge_id: str
    user_id: str
    created_at: datetime
    completed_at: datetime | None
    status: str
    triggered_by: str
    trigger_detail: str
    currency: str
    amount: int
    fee: int
    total_charge: int
    payment_intent_id: str | None
    failure_code: str | None

    def cells(self) -> list[Cell]:
        """The row's values in ``COLUMNS`` order, money as decimal strings."""
        code = self.currency
        return [
            self.recharge_id,
            self.user_id,
            _time(self.created_at),
            _time(self.completed_at),
            str(self.status),
            str(self.triggered_by),
            str(self.trigger_detail),
            code,
            amount(self.amount, code),
            amount(self.fee, code),
            amount(self.total_charge, code),
            self.payment_intent_id,
            self.failure_code,
        ]

    def csv_row(self) -> tuple[object, ...]:
        """The row for ``csv.writer`` (which writes None as an empty cell)."""
        code = self.currency
        return (
            self.recharge_id,
            self.user_id,
            self.created_at.isoformat(),
            _time(self.completed_at),
            self.status,
            self.triggered_by,
            self.trigger_detail,
            code,
            amount(self.amount, code),
            amount(self.fee, code),
            amount(self.total_charge, code),
            self.payment_intent_id,
            self.failure_code,
        )


class LedgerLine(NamedTuple):
    entry_id: int
    created_at: datetime
    user_id: str
    currency: str
    kind: str
    amount: int
    balance_after: int
    reference: str
    description: str | None

    def cells(self) -> list[Cell]:
        code = self.currency
        return [
            self.entry_id,
            _time(self.created_at),
            self.user_id,
            code,
            str(self.kind),
            amount(self.amount, code),
            amount(self.balance_after, code),
            self.reference,
            self.description,
        ]

    def csv_row(self) -> tuple[object, ...]:
        code = self.currency
        return (
            self.entry_id,
            self.created_at.isoformat(),
            self.user_id,
            code,
            self.kind,
            amount(self.amount, code),
            amount(self.balance_after, code),
            _formula_safe(self.reference),
            _formula_safe(self.description),
        )


Line = RechargeLine | LedgerLine

COLUMNS: dict[ReportKind, tuple[str, ...]] = {
    ReportKind.RECHARGES: RechargeLine._fields,
    ReportKind.LEDGER: LedgerLine._fields,
}


# --- totals --------------------------------------------------------------------------------


@dataclass(slots=True)
class CurrencyTotals:
    """What an accountant reconciles, for one currency."""

    currency: str
    rows: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # by status / by ledger kind
    sums: dict[str, int] = field(default_factory=dict)  # minor units, by ledger kind
    charged_total: int = 0  # succeeded recharges only
    fees: int = 0
    credited: int = 0


class Totals:
    """Running totals per currency, added up as the rows stream past."""

    def __init__(self, kind: ReportKind) -> None:
        self.kind = kind
        self.by_currency: dict[str, CurrencyTotals] = {}
        self.rows = 0

    def _of(self, currency: str) -> CurrencyTotals:
        found = self.by_currency.get(currency)
        if found is None:
            keys = (
                [str(s) for s in RechargeStatus]
                if self.kind is ReportKind.RECHARGES
                else [str(k) for k in LedgerKind]
            )
            found = CurrencyTotals(currency, counts=dict.fromkeys(keys, 0))
            if self.kind is ReportKind.LEDGER:
                found.sums = dict.fromkeys(keys, 0)
            self.by_currency[currency] = found
        return found

    def add(self, lines: Sequence[Line]) -> None:
        for line in lines:
            t = self.by_currency.get(line.currency) or self._of(line.currency)
            t.rows += 1
            if isinstance(line, RechargeLine):
                status = str(line.status)
                t.counts[status] = t.counts.get(status, 0) + 1
                if status == RechargeStatus.SUCCEEDED:
                    t.charged_total += line.total_charge
                    t.fees += line.fee
                    t.credited += line.amount
            else:
                kind = str(line.kind)
                t.counts[kind] = t.counts.get(kind, 0) + 1
                t.sums[kind] = t.sums.get(kind, 0) + line.amount
        self.rows += len(lines)

    def table(self) -> list[dict[str, str]]:
        """One row per currency (sorted), cells as strings (snake_case keys)."""
        out = []
        for code in sorted(self.by_currency):
            t = self.by_currency[code]
            row = {"currency": code}
            if self.kind is ReportKind.RECHARGES:
                row["records"] = str(t.rows)
                row.update({status: str(n) for status, n in t.counts.items()})
                row["charged_total"] = amount(t.charged_total, code)
                row["fees"] = amount(t.fees, code)
                row["credited"] = amount(t.credited, code)
            else:
                row["entries"] = str(t.rows)
                for kind, n in t.counts.items():
                    row[f"{kind}_count"] = str(n)
                    row[f"{kind}_amount"] = amount(t.sums[kind], code)
                row["net_change"] = amount(sum(t.sums.values()), code)
            out.append(row)
        return out

    def columns(self) -> list[str]:
        if self.kind is ReportKind.RECHARGES:
            return [
                "currency",
                "records",
                *(str(s) for s in RechargeStatus),
                "charged_total",
                "fees",
                "credited",
            ]
        kinds = [str(k) for k in LedgerKind]
        return [
            "currency",
            "entries",
            *(f"{k}_{what}" for k in kinds for what in ("count", "amount")),
            "net_change",
        ]


# --- encodings -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heading:
    kind: ReportKind
    start: datetime
    end: datetime
    generated_at: datetime


class Writer(Protocol):
    def begin(self, heading: Heading) -> str: ...
    def rows(self, lines: Sequence[Line]) -> str: ...
    def end(self, totals: Totals) -> str: ...


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class CsvWriter:
    def __init__(self, kind: ReportKind) -> None:
        self.kind = kind

    @staticmethod
    def _encode(rows: Sequence[Sequence[object]]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n").writerows(rows)
        return buffer.getvalue()

    def begin(self, heading: Heading) -> str:
        return self._encode([COLUMNS[self.kind]])

    def rows(self, lines: Sequence[Line]) -> str:
        return self._encode([line.csv_row() for line in lines])

    def end(self, totals: Totals) -> str:
        columns = totals.columns()
        return self._encode(
            [[], ["totals"], columns, *([row[c] for c in columns] for row in totals.table())]
        )


class JsonWriter:
    def __init__(self, kind: ReportKind) -> None:
        self.kind = kind
        self._keys = [_camel(c) for c in COLUMNS[kind]]
        self._first = True

    def begin(self, heading: Heading) -> str:
        head = {
            "report": str(heading.kind),
            "from": heading.start.isoformat(),
            "to": heading.end.isoformat(),
            "generatedAt": heading.generated_at.isoformat(),
        }
        return json.dumps(head)[:-1] + ', "rows": [\n'

    def rows(self, lines: Sequence[Line]) -> str:
        if not lines:
            return ""
        keys = self._keys
        encoded = ",\n".join(
            json.dumps(dict(zip(keys, line.cells(), strict=True))) for line in lines
        )
        prefix = "" if self._first else ",\n"
        self._first = False
        return prefix + encoded

    def end(self, totals: Totals) -> str:
        table: list[dict[str, Any]] = []
        for row in totals.table():
            out: dict[str, Any] = {}
            for key, value in row.items():
                if key in {"records", "entries"}:
                    out["rows"] = int(value)
                elif key in {s.value for s in RechargeStatus} or key.endswith("_count"):
                    out.setdefault("counts", {})[key.removesuffix("_count")] = int(value)
                elif key.endswith("_amount"):
                    out.setdefault("amounts", {})[key.removesuffix("_amount")] = value
                else:
                    out[_camel(key)] = value
            table.append(out)
        return f'\n], "rowCount": {totals.rows}, "totals": {json.dumps(table)}}}\n'


def writer(kind: ReportKind, fmt: ReportFormat) -> Writer:
    return CsvWriter(kind) if fmt is ReportFormat.CSV else JsonWriter(kind)
