"""The HTTP layers, outermost first: observe (logs, metrics), body limit, auth and
rate limit, then the app that routes to GraphQL (``schema/``) and REST (``app.rest``)."""
