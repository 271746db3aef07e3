"""The cost of a search is bounded whatever the query: the worst cases, counted.

Time on a shared machine is noisy, so these count the work that made the old
planner slow: rows brought back to Python and emails decrypted.  A business of
a few thousand seeded customers is enough to tell a bounded plan from a walk of
the whole business (bench/bounded.py times it at 100,000).
"""

from __future__ import annotations

from typing import Any

import pytest

from app.jobs.seed import seed_demo
from app.services import search
from tests.conftest import _admin, make_tenant
from tests.test_search import oracle

SIZE = 3000
WORST = [
    "q", "x", "é", "~", "中",  # 1 character, rare or absent
    "qx", "zq", "xj", "9z", "@@",  # 2 characters, absent
    "z", "za", "zai", "zain",  # typed one key at a time, late in the name order
    "a", "gmail", "yahoo.com", "ade",  # common
    "zqx", "gmail.comx", "a" * 100, "é" * 100,  # no match, long
]  # fmt: skip


@pytest.fixture(scope="module")
async def seeded(app, database_url) -> str:
    tenant = await make_tenant("Bounds")
    conn = await _admin(database_url)
    try:
        await seed_demo(conn, business_id=tenant.business_id, count=SIZE, show_progress=False)
    finally:
        await conn.close()
    return tenant.business_id


@pytest.mark.parametrize("q", WORST)
async def test_a_search_reads_and_decrypts_a_bounded_number_of_rows(seeded, q, monkeypatch):
    work = {"rows": 0, "decrypted": 0}
    real_fetch, real_open = search.fetch, search._EMAIL.open_for

    async def fetch(sql: str, *params: Any) -> list[Any]:
        rows = await real_fetch(sql, *params)
        work["rows"] += len(rows)
        return rows

    def open_for(row_id: str, sealed: bytes) -> str:
        work["decrypted"] += 1
        return real_open(row_id, sealed)

    monkeypatch.setattr(search, "fetch", fetch)
    monkeypatch.setattr(search._EMAIL, "open_for", open_for)
    got = await search.matching_ids(seeded, search.normalise_query(q))
    monkeypatch.undo()
    assert got == await oracle(seeded, q)
    # The probe's matches plus at most one batch of candidates per 50 results;
    # the old planner read and decrypted all 3,000 for a rare query.
    assert work["rows"] <= 2 * search.MAX_RESULTS + search.FIRST_BATCH * 5, work
    assert work["decrypted"] <= 2 * search.MAX_RESULTS + search.FIRST_BATCH * 5, work
