"""Stripe Balance Manager: prepaid balances kept topped up with off-session Stripe charges."""

__version__ = "0.1.0"
