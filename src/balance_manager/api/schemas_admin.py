"""Bodies of the operator's routes: user lists and changes, statistics."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer, StringConstraints

from balance_manager.api.schemas import (
    InputModel,
    MoneyOut,
    OutputModel,
    Pagination,
    RechargeRecordOut,
    UserOut,
)

# A ratio (not money): a JSON number with four decimals.
Rate = Annotated[Decimal, PlainSerializer(float, return_type=float)]

# --- users ---------------------------------------------------------------------------------


class UserSummaryOut(UserOut):
    below_minimum: bool
    auto_recharge_enabled: bool | None
    paused: bool
    has_payment_method: bool


class UserListOut(OutputModel):
    users: list[UserSummaryOut]
    pagination: Pagination


class UserPatchIn(InputModel):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]


class RechargeListOut(OutputModel):
    records: list[RechargeRecordOut]
    pagination: Pagination


# --- statistics ----------------------------------------------------------------------------


class OutcomesOut(OutputModel):
    total: int
    by_status: dict[str, int]
    finished: int = Field(description="succeeded + failed + canceled (in flight excluded)")
    success_rate: Rate | None = Field(description="succeeded / finished; null when none")


class VolumeOut(OutputModel):
    currency: str
    succeeded: int
    charged: MoneyOut = Field(description="Σ totalCharge of succeeded recharges (gross)")
    fees: MoneyOut = Field(description="Σ fee of succeeded recharges (card fee paid on top)")
    credited: MoneyOut = Field(description="Σ amount of succeeded recharges (to balances)")


class RechargeStatsOut(OutputModel):
    from_: datetime = Field(alias="from")
    to: datetime
    outcomes: OutcomesOut
    by_trigger: dict[str, OutcomesOut]
    volumes: list[VolumeOut]


class BucketOut(OutputModel):
    label: str
    min: MoneyOut | None = Field(description="inclusive; null: unbounded")
    max: MoneyOut | None = Field(description="exclusive; null: unbounded")
    users: int
    total: MoneyOut


class CurrencyBalancesOut(OutputModel):
    currency: str
    users: int
    total: MoneyOut = Field(description="Σ balances: what is owed to customers")
    buckets: list[BucketOut]


class BalanceStatsOut(OutputModel):
    currencies: list[CurrencyBalancesOut]


class UserStatsOut(OutputModel):
    total: int
    below_minimum: int
    negative_balance: int
    auto_recharge_off: int
    paused: int
    requires_action: int = Field(description="a recharge waits for the customer's 3-D Secure")
    recharge_in_flight: int = Field(description="a recharge is pending or processing")


class PaymentMethodStatsOut(OutputModel):
    users: int
    with_card: int = Field(description="users with a default card")
    without_card: int
