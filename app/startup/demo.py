"""The development demo: one business and API key, created on the first `make run`.

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
