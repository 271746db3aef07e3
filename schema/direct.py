"""Root resolvers called straight from a compiled plan, without Strawberry's wrapper.

On every call Strawberry's resolver wrapper builds its ``Info``, converts the
arguments (a walk over the argument definitions with a name conversion and a
type dispatch per value), lets field extensions and permissions reshape them,
maps the root and info parameters, and only then calls the function: about a
tenth of a small request.  For a field with no extensions, no permission
classes, no exception handlers and only leaf arguments (which Strawberry passes
on unchanged) or input objects of leaf fields (which it builds from the fields
given: ``createCustomer``'s input), all of that is a rename of keys known in
advance, so ``direct_call`` makes the renames once and the call is the function
itself.  Any other field keeps Strawberry's wrapper (``None``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLField, GraphQLResolveInfo
from strawberry.relay import GlobalID
from strawberry.schema import Schema
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryOptional,
    StrawberryType,
)

from schema.fields import DEFINITION

#: (the resolve info graphql-core would pass, the argument values by GraphQL name)
DirectCall = Callable[[GraphQLResolveInfo, dict[str, Any]], Any]


def _is_unchanged(type_: StrawberryType | type, schema: Schema) -> bool:
    """Whether Strawberry hands an argument of this type to the resolver as it is:
    a scalar or a nullable scalar, except GlobalID (decoded) and Maybe (wrapped)."""
    if isinstance(type_, StrawberryMaybe):
        return False
    if isinstance(type_, StrawberryOptional):
        type_ = type_.of_type
    if isinstance(type_, StrawberryList | StrawberryType) or type_ is GlobalID:
        return False
    return type_ in schema.schema_converter.scalar_registry


def _as_is(value: Any) -> Any:
    return value


def _converter(type_: StrawberryType | type, schema: Schema) -> Callable[[Any], Any] | None:
    """How Strawberry converts an argument of this type before the call: not at all
    (a scalar), or, for an input object whose fields are all scalars, into its class
    from the fields given (absent ones keep their defaults, UNSET); None for anything
    else, which keeps Strawberry's wrapper."""
    if _is_unchanged(type_, schema):
        return _as_is
    if isinstance(type_, StrawberryMaybe | StrawberryOptional | StrawberryType):
        return None
    definition = getattr(type_, "__strawberry_definition__", None)
    if definition is None or not definition.is_input or definition.is_one_of:
        return None
    names = schema.config.name_converter
    renames: list[tuple[str, str]] = []
    for field in definition.fields:
        if not _is_unchanged(field.resolve_type(), schema):
            return None
        renames.append((names.from_field(field), field.python_name))
    cls = type_

    def convert(value: Any) -> Any:
        return cls(**{python: value[graphql] for graphql, python in renames if graphql in value})

    return convert


def direct_call(field_def: GraphQLField, schema: Schema) -> DirectCall | None:
    """The resolver of a root field as a plain call, or None when it needs the wrapper."""
    definition = (field_def.extensions or {}).get(DEFINITION)
    if definition is None or definition.extensions or definition.permission_classes:
        return None
    resolver = definition.base_resolver
    if resolver is None or resolver.parent_parameter or resolver.root_parameter:
        return None
    if schema.schema_converter.exception_handlers:
        return None
    names = schema.config.name_converter
    renames: list[tuple[str, str, Callable[[Any], Any]]] = []
    for argument in definition.arguments:
        convert = _converter(argument.type, schema) if argument.python_name else None
        if convert is None:
            return None
        renames.append((names.from_argument(argument), argument.python_name, convert))
    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    info_name = resolver.info_parameter.name if resolver.info_parameter else None
    info_class = schema.config.info_class

    def call(info: GraphQLResolveInfo, values: dict[str, Any]) -> Any:
        kwargs = {
            python: value if convert is _as_is else convert(value)
            for graphql, python, convert in renames
            if (value := values.get(graphql, _ABSENT)) is not _ABSENT
        }
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=definition)
        if takes_self:
            return function(info.root_value, **kwargs)
        return function(**kwargs)

    return call


_ABSENT = object()
