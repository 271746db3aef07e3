"""What a Strawberry field's resolver does, seen from graphql-core: a plain read or more.

A compiled plan (``schema.compiled``) reads a field straight from its object only
when Strawberry's resolver would do nothing else: no field extension, no
permission class, no argument, no info, a sync function of the object.  Anything
more keeps the resolver, or keeps the document off the plans.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

#: Where Strawberry keeps its field definition in a graphql-core field's extensions.
DEFINITION = "strawberry-definition"

#: Scalars whose output coercion returns a value of exactly this type unchanged
#: (graphql-core's serializers; BigInt's is ``int``), so it can be skipped.
PASSTHROUGH = {"String": str, "ID": str, "Boolean": bool, "Float": float, "BigInt": int}


def plain_attribute(field_def: Any) -> str | None:
    """The attribute a field reads, when it has no resolver, extension or permission."""
    definition = (field_def.extensions or {}).get(DEFINITION)
    if definition is None or definition.extensions or definition.permission_classes:
        return None
    return definition.python_name if definition.base_resolver is None else None


def field_getter(field_def: Any) -> Callable[[Any], Any] | None:
    """How to read a field straight from its source, if that is all its resolver does."""
    definition = (field_def.extensions or {}).get(DEFINITION)
    if definition is None or definition.extensions or definition.permission_classes:
        return None
    resolver = definition.base_resolver
    if resolver is None:
        return attrgetter(definition.python_name)
    takes_more = resolver.arguments or resolver.info_parameter or resolver.root_parameter
    if resolver.is_async or takes_more or resolver.parent_parameter:
        return None
    if resolver.self_parameter is None:
        return None
    return resolver.wrapped_func
