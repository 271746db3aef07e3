"""The development demo: one business and API key, created on the first `make run`,
with a few hundred realistic customers, so that GraphiQL's example and the
README's tour find something.

The key is kept in the git-ignored data folder (development only) so that a
second run reuses it, and GraphiQL opens with it already in its headers.
"""

from __future__ import annotations

import json

from app.services import businesses
from app.settings import Settings

DEMO_FILE = "demo.json"


def read_demo(settings: Settings) -> dict[str, str] | None:
    """The demo business id and key, in development only."""
    path = settings.data_dir / DEMO_FILE
    if settings.is_production or not path.exists():
        return None
    return json.loads(path.read_text())


#: Customers seeded into a new demo business (app.jobs.seed: Nigerian names, phones, addresses).
DEMO_CUSTOMERS = 300
DEMO_SEED = 1


def env_lines(demo: dict[str, str]) -> list[str]:
    """Shell lines that put the demo's key and business id, and `finora`, in reach."""
    return [
        'export PATH="$PWD/.venv/bin:$PATH"',
        f"export FINORA_API_KEY={demo['key']}",
        f"export BID={demo['businessId']}",
    ]


async def seed_demo_data(database_url: str, business_id: str) -> int:
    """The demo customers, once: a killed seed goes on (its job row), a finished one is
    not repeated (it left no job row, and the business has its customers)."""
    from app.db.orm import raw_connect
    from app.jobs.seed import seed_demo
    from app.models import Customer, Job

    job = f"seed:{business_id}:{DEMO_SEED}:{DEMO_CUSTOMERS}"
    if not await Job.exists(name=job) and await Customer.exists(business_id=business_id):
        return 0
    conn = await raw_connect(database_url)
    try:
        return await seed_demo(conn, business_id=business_id, count=DEMO_CUSTOMERS, seed=DEMO_SEED)
    finally:
        await conn.close()


async def ensure_demo(settings: Settings) -> dict[str, str]:
    demo = read_demo(settings)
    if demo and await businesses.authenticate(demo.get("key", "")) is not None:
        return demo
    business = await businesses.create_business("Demo Shop")
    issued = await businesses.create_api_key(business.id)
    demo = {"businessId": business.id, "key": issued.key}
    path = settings.data_dir / DEMO_FILE
    path.write_text(json.dumps(demo))
    path.chmod(0o600)
    return demo
