"""``python -m app.cli``: how ``finora dev`` starts its webhook worker.

The child is started with the running interpreter rather than the ``finora``
script, so it works wherever that script is not on PATH (a venv not activated).
"""

import sys

from app.cli import main

sys.exit(main())
