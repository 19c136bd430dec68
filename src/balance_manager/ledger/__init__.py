"""The append-only ledger: the truth about every balance."""
