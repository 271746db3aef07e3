"""The ``finora`` command (``finora = "app.cli:main"``), one module per kind of subcommand.

``parser`` holds the argparse table and ``main``; ``common`` the one-line
failure and the ORM helpers; ``server`` serve, dev and worker; ``data`` the jobs
on stored data (migrate, reindex, seed-demo, import, business export, events
prune, erasures);
``admin`` businesses, API keys and encryption keys; ``contract`` the GraphQL SDL.

Configuration problems end the process with one line on stderr and exit
status 2, never a traceback.  The GraphQL layer is loaded by name
(``schema.asgi:create_app``, ``schema.sdl``), as Uvicorn does, so that this
package never imports ``schema/``.
"""

from app.cli.parser import main

__all__ = ["main"]
