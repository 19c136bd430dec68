"""The pure rules: no I/O, no framework, no clock of their own (the caller passes ``now``).

    money          integer minor units, currencies, the one rounding function
    amounts        decimal input to minor units, with errors that name the field
    policy         the one recharge decision (``decide``), fees, the recharge rules
    posting        what a batch of postings does to locked balances (the ledger rules)
    reversals      how much credit a refund or a dispute takes back
    matching       does a PaymentIntent belong to a recharge record?
    charge_limits  what Stripe will charge per currency
    webhooks       operator webhooks: payloads, signatures, retries, giving up
    report_formats report columns, totals, CSV and JSON
    periods        ``from``/``to`` or a window, for statistics and reports
    states ids errors text   named states, identifiers, expected failures, storable strings

May import the standard library and small pure libraries (``standardwebhooks`` signs,
``cuid2`` makes ids); no other ``balance_manager`` package and no FastAPI, SQLAlchemy, Stripe
or httpx (``tests/unit/test_architecture.py`` holds every layer to its rule).
"""
