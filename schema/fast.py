"""A faster way through objects (and lists of them) whose selected fields are plain.

graphql-core resolves a list of 100 customers field by field: for each of the
1,300 fields it builds a resolve info, runs Strawberry's resolver wrapper
(arguments, permissions, extensions) and completes the value, about 10 us each.
When every selected field of the list's item type is a plain leaf, which is
what list queries of this API look like, the outcome is only ``getter(item)``
then the scalar's output coercion, in the order graphql-core would collect the
fields.  This executor builds those rows directly.  A field may also be an
object or a list (of objects or of leaves) whose fields are plain in turn: a
bulk mutation's 500 results, each with its customer and its userErrors, are
built the same way (graphql-core spent about 40 us on each).

It takes the fast way only when it can give the very same answer: every field
a leaf, a plain object or a list of either, without arguments, a sync resolver
that takes nothing but the object, no permission classes or field extensions,
no type checks (``is_type_of``), no middleware.  If anything on the fast
way raises or returns a value that needs an error (a null for a non-null field),
the list is done again the normal way, which reports the error exactly as it
always does.  Tests compare both ways on every query shape.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

DEFINITION = "strawberry-definition"

#: response key, getter (None for __typename), leaf type (or a _Nested / _LeafList
#: completer: anything with ``coerce_output_value``), nullable, passthrough type
Column = tuple[str, Callable[[Any], Any] | None, Any, bool, type | None]

#: Scalars whose output coercion returns a value of exactly this type unchanged
#: (graphql-core's serializers; BigInt's is ``int``), so it can be skipped.
PASSTHROUGH = {"String": str, "ID": str, "Boolean": bool, "Float": float, "BigInt": int}


class _Fallback(Exception):
    """Something on the fast way needs the normal path's error handling."""


class _Nested:
    """Completes an object field, or a list of objects, from the columns of its type.

    It stands where a leaf type would in a column, so rows of leaves pay nothing
    for it: the row builder calls ``coerce_output_value`` as for any scalar.
    """

    __slots__ = ("columns", "is_list", "item_non_null")

    def __init__(self, columns: list[Column], is_list: bool, item_non_null: bool) -> None:
        self.columns, self.is_list, self.item_non_null = columns, is_list, item_non_null

    def coerce_output_value(self, value: Any) -> Any:
        if not self.is_list:
            return FastListExecutor._rows(self.columns, (value,), True)[0]
        if not isinstance(value, list | tuple):
            raise _Fallback
        return FastListExecutor._rows(self.columns, value, self.item_non_null)


class _LeafList:
    """Completes a list of leaves (``userErrors { field }``), item by item."""

    __slots__ = ("item_non_null", "leaf")

    def __init__(self, leaf: GraphQLLeafType, item_non_null: bool) -> None:
        self.leaf, self.item_non_null = leaf, item_non_null

    def coerce_output_value(self, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            raise _Fallback
        out = []
        for item in value:
            if item is None:
                if self.item_non_null:
                    raise _Fallback
                out.append(None)
                continue
            coerced = self.leaf.coerce_output_value(item)
            if coerced is Undefined or coerced is None:
                raise _Fallback
            out.append(coerced)
        return out


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


class FastListExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with a shortcut for lists of leaf-only objects."""

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        item_type = return_type.of_type
        item_non_null = isinstance(item_type, GraphQLNonNull)
        object_type = item_type.of_type if item_non_null else item_type
        if isinstance(object_type, GraphQLObjectType) and isinstance(result, list | tuple):
            rows = self._shortcut(object_type, field_details_list, result, item_non_null)
            if rows is not None:
                return rows
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        """One object of leaves (``customer(id)``): the same shortcut, for one row."""
        rows = self._shortcut(return_type, field_details_list, (result,), True)
        if rows is not None:
            return rows[0]
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _shortcut(
        self, object_type: GraphQLObjectType, field_details_list: Any, items: Any, non_null: bool
    ) -> list[Any] | None:
        """The rows built directly, or None to take graphql-core's path."""
        middleware = self.middleware_manager and self.middleware_manager.middlewares
        if object_type.is_type_of is not None or middleware:
            return None
        columns = self._columns(object_type, field_details_list)
        if columns is None:
            return None
        try:
            return self._rows(columns, items, non_null)
        except Exception:
            return None

    def _columns(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> list[Column] | None:
        cache = self.__dict__.setdefault("_fast_columns", {})
        key = (object_type.name, id(field_details_list))
        if key in cache:
            return cache[key][1]
        grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        columns: list[Column] | None = [] if not defer_usages else None
        for response_key, details in grouped.items():
            if columns is None:
                break
            node = details[0].node
            name = node.name.value
            if name == "__typename":
                columns.append((response_key, None, object_type.name, False, None))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None or node.arguments or field_def.args:
                columns = None
                break
            field_type = field_def.type
            non_null = isinstance(field_type, GraphQLNonNull)
            inner = field_type.of_type if non_null else field_type
            getter = field_getter(field_def)
            completer = self._completer(inner, details) if getter is not None else None
            if completer is None:
                columns = None
                break
            passthrough = PASSTHROUGH.get(inner.name) if is_leaf_type(inner) else None
            columns.append((response_key, getter, completer, not non_null, passthrough))
        cache[key] = (field_details_list, columns)  # keep the list alive with its id
        return columns

    def _completer(self, field_type: Any, details: Any) -> Any:
        """What completes a field's value: its leaf type, or a nested completer; None when
        the fast way cannot (abstract types, lists of lists, a type check)."""
        if is_leaf_type(field_type):
            return field_type
        is_list = isinstance(field_type, GraphQLList)
        item = field_type.of_type if is_list else field_type
        item_non_null = isinstance(item, GraphQLNonNull)
        if item_non_null:
            item = item.of_type
        if is_list and is_leaf_type(item):
            return _LeafList(item, item_non_null)
        if not isinstance(item, GraphQLObjectType) or item.is_type_of is not None:
            return None
        columns = self._columns(item, details)
        return None if columns is None else _Nested(columns, is_list, item_non_null)

    @staticmethod
    def _rows(columns: list[Column], items: Iterable[Any], item_non_null: bool) -> list[Any]:
        rows = []
        for item in items:
            if item is None:
                if item_non_null:
                    raise _Fallback
                rows.append(None)
                continue
            row = {}
            for key, getter, leaf, nullable, passthrough in columns:
                if getter is None:
                    row[key] = leaf  # __typename
                    continue
                value = getter(item)
                if value is None:
                    if not nullable:
                        raise _Fallback
                    row[key] = None
                    continue
                if type(value) is passthrough:
                    row[key] = value
                    continue
                coerced = leaf.coerce_output_value(value)
                if coerced is Undefined or coerced is None:
                    raise _Fallback
                row[key] = coerced
            rows.append(row)
        return rows
