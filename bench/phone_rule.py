"""Microbenchmark: validation.phone on realistic numbers, against phonenumbers alone.

    flock /tmp/bench.lock .venv/bin/python bench/phone_rule.py [--count 10000] [--repeat 7]

The numbers are the demo seed's (app.jobs.seed.people, ``+234`` and ten digits),
as given and written the other common ways (``0803 123 4567``, ``234803...``),
since clients send all of them.  For each set it prints microseconds per call of
phone() (the fast path for common NG shapes, then phonenumbers for the rest) and
of phone_by_library (the rule before the fast path), best of --repeat passes over
the whole set, and how many numbers the fast path decided.  Both answer alike on
every number, which the script checks first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.jobs.seed import people  # noqa: E402
from bench.email_rule import compare  # noqa: E402


def national(number: str) -> str:
    """``+2348031234567`` as a Nigerian writes it at home: ``0803 123 4567``."""
    return f"0{number[4:7]} {number[7:10]} {number[10:]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    seeded: list[str] = []
    seed = 0
    while len(seeded) < args.count:
        seed += 1
        seeded += [p["phone"] for p in people(seed, 0, args.count) if p["phone"] is not None]
    seeded = seeded[: args.count]
    sets = (
        ("seeded", seeded),
        ("national", list(map(national, seeded))),
        ("no plus", [number[1:] for number in seeded]),
    )
    for label, numbers in sets:
        compare(label, numbers, "phone", args.repeat)


if __name__ == "__main__":
    main()
