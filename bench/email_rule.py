"""Microbenchmark: validation.email on realistic addresses, against the library alone.

    flock /tmp/bench.lock .venv/bin/python bench/email_rule.py [--count 10000] [--repeat 7]

The addresses are the demo seed's (app.jobs.seed.people), as given and with their
case mixed (``Chidi.Okafor12@GMAIL.COM``), since clients send both.  For each set
it prints microseconds per call of email() (the plain-address fast path, then
email-validator for the rest) and of email_by_library (the rule before the fast
path), best of --repeat passes over the whole set, and how many addresses the fast
path decided.  Both answer alike on every address, which the script checks first.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from app.jobs.seed import people
from app.services import validation


def per_call(rule: Callable[[str], str], addresses: list[str], repeat: int) -> float:
    """Microseconds per call, best pass of ``repeat``: the least disturbed by the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for address in addresses:
            rule(address)
        best = min(best, time.perf_counter() - start)
    return best / len(addresses) * 1e6


def compare(label: str, values: list[str], rule: str, repeat: int) -> None:
    """One line for a set: ``validation.<rule>`` (fast path, then the library) against
    ``<rule>_by_library`` alone, after checking they answer alike on every value."""
    with_fast_path = getattr(validation, rule)
    library = getattr(validation, f"{rule}_by_library")
    plain = getattr(validation, f"plain_{rule}")
    if list(map(with_fast_path, values)) != list(map(library, values)):
        raise SystemExit(f"{label}: {rule}() and {rule}_by_library() disagree")
    fast = sum(plain(value) is not None for value in values)
    fast_us = per_call(with_fast_path, values, repeat)
    library_us = per_call(library, values, repeat)
    print(
        f"{label:>10}: {rule}() {fast_us:6.2f} us/call, library alone {library_us:6.2f} "
        f"us/call ({library_us / fast_us:.0f}x); fast path took {fast:,} of {len(values):,}"
    )


def mixed_case(address: str) -> str:
    local, domain = address.split("@")
    return f"{local.title()}@{domain.upper()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    seeded = [person["email"] for person in people(1, 0, args.count)]
    for label, addresses in (("seeded", seeded), ("mixed case", list(map(mixed_case, seeded)))):
        compare(label, addresses, "email", args.repeat)


if __name__ == "__main__":
    main()
