"""``python -m tests.chaos [--size ci|full] [--rounds N] [--users N] …``: run the chaos and
print its figures; exit 1 on any mismatch."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from tests.chaos.run import SIZES, Chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="ci")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--users", type=int)
    parser.add_argument("--debits", type=int, help="usage debits per round")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    changes = {
        "rounds": args.rounds,
        "users": args.users,
        "debits_per_round": args.debits,
        "seed": args.seed,
    }
    size = dataclasses.replace(size, **{k: v for k, v in changes.items() if v is not None})
    chaos = Chaos(size)
    figures = asyncio.run(chaos.run())
    print(json.dumps(figures.summary(), indent=2))
    if figures.mismatch_count:
        print(
            f"MISMATCHES: {figures.mismatch_count} (process logs in {chaos.logs})", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
