"""Validation rules that refuse expensive documents before execution.

- Cost: every list a document asks for is counted at its largest size
  (``customers(limit)``, ``customerConnection(first)`` per list selected under it;
  a variable counts as the maximum, 100), and the fields whose work does not
  follow their size are priced at what they may really cost: a search
  (SEARCH_COST: it may confirm many candidates to return 50) and a
  ``totalCount`` (TOTAL_COUNT_COST: it counts the whole business).  Summed over
  aliases and fragments, so aliases multiply: ``customers(limit: 100)`` under ten
  aliases is 1,000, five searches are 500.  What a request then really did is
  charged to its key after execution (app.meter, app.http.admission).
- ``findOrCreateCustomers`` counts its inputs (a variable counts as the maximum,
  500): one full bulk call per document.
- Introspection depth: Strawberry's depth limit skips introspection fields.
  Circular introspection (``types { fields { type { fields``) is refused by
  graphql-core's MaxIntrospectionDepthRule, but that one does not count
  ``ofType``; here no introspection path may be deeper than the standard
  introspection query's (15 levels), which GraphiQL and codegen tools send.
- Expansion: fragments spread inside fragments can make a 300-token document
  expand to billions of fields; it is measured once per fragment right after
  parsing and refused above MAX_EXPANDED_FIELDS, before any rule walks it.
- Selection width: at most MAX_SELECTIONS fields in one selection set, so a
  field repeated hundreds of times (graphql-cop's duplication probe) is refused.

Each reports an ordinary validation error, so the answer is HTTP 400 with
GRAPHQL_VALIDATION_FAILED, like the depth, token and alias limits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

MAX_LIST_COST = 500
#: Fields a document may expand to once its fragments are inlined.
MAX_EXPANDED_FIELDS = 2000
MAX_INTROSPECTION_DEPTH = 15
MAX_SELECTIONS = 64

LIST_MAX = 100
#: A search returns at most 50, but may decrypt many candidates to find them.
SEARCH_COST = 100
#: Counting the customers of a business reads all of them.
TOTAL_COUNT_COST = 100
#: list fields of the schema and the argument that sizes them (with its default)
SIZED = {
    "customers": ("limit", 50),
    "customerConnection": ("first", 50),
    "customerEvents": ("first", 50),
}
BULK_FIELD, BULK_ARGUMENT, BULK_MAX = "findOrCreateCustomers", "inputs", 500


def bulk_size(field: FieldNode, variables: dict[str, Any] | None = None) -> int:
    """The rows a bulk field asks for: a literal list's length; a variable's, when its
    raw value is known (before validation it is not: the maximum is assumed)."""
    for arg in field.arguments or ():
        if arg.name.value == BULK_ARGUMENT:
            value = arg.value
            if isinstance(value, ListValueNode):
                return len(value.values)
            if isinstance(value, VariableNode):
                if variables is None:
                    return BULK_MAX
                raw = variables.get(value.name.value)
                if raw is None:
                    return 0
                return len(raw) if isinstance(raw, list) else 1
            return 1  # one object: a list of 1
    return 0


def _size(field: FieldNode, argument: str, default: int) -> int:
    for arg in field.arguments or ():
        if arg.name.value == argument:
            if isinstance(arg.value, IntValueNode):
                return min(LIST_MAX, max(0, int(arg.value.value)))  # beyond: BAD_USER_INPUT
            if isinstance(arg.value, VariableNode):
                return LIST_MAX
    return default


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def fields_of(
    selection_set: SelectionSetNode | None,
    fragment: Callable[[str], FragmentDefinitionNode | None],
    seen: frozenset[str] = frozenset(),
) -> list[FieldNode]:
    """The fields of a selection set, fragments expanded (cycles stop; directives are
    not applied, so a skipped field still counts)."""
    found: list[FieldNode] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found += fields_of(selection.selection_set, fragment, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            definition = fragment(name)
            if definition is not None and name not in seen:
                found += fields_of(definition.selection_set, fragment, seen | {name})
    return found


class _Walker(ValidationRule):
    """Walks each operation's selections, fragments expanded (cycles stop)."""

    def fields(self, selection_set: SelectionSetNode | None) -> list[FieldNode]:
        return fields_of(selection_set, self.context.get_fragment)


class ListCostRule(_Walker):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = 0
        for field in self.fields(node.selection_set):
            name = field.name.value
            if name == "searchCustomers":
                cost += SEARCH_COST
            elif name == BULK_FIELD:
                cost += bulk_size(field)
            elif name in SIZED:
                size = _size(field, *SIZED[name])
                inner = [f.name.value for f in self.fields(field.selection_set)]
                lists = sum(1 for f in inner if f in ("edges", "nodes"))
                cost += size * max(1, lists) + TOTAL_COUNT_COST * inner.count("totalCount")
        if cost > MAX_LIST_COST:
            self.report_error(
                GraphQLError(
                    f"The document may cost up to {cost} (list items, searches, counts); "
                    f"the limit is {MAX_LIST_COST}.",
                    node,
                )
            )


class IntrospectionDepthRule(_Walker):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        for field in self.fields(node.selection_set):
            if field.name.value in ("__schema", "__type") and self._deeper_than(field, 1):
                self.report_error(GraphQLError("The introspection query is too deep.", field))
                return

    def _deeper_than(self, field: FieldNode, depth: int) -> bool:
        if depth > MAX_INTROSPECTION_DEPTH:
            return True
        return any(
            self._deeper_than(child, depth + 1) for child in self.fields(field.selection_set)
        )


class SelectionWidthRule(ValidationRule):
    def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
        if len(node.selections) > MAX_SELECTIONS:
            self.report_error(
                GraphQLError(f"A selection may hold at most {MAX_SELECTIONS} fields.", node)
            )


def expanded_fields(document: DocumentNode) -> int:
    """How many fields the operations hold once fragments are inlined.

    Each fragment is counted once and remembered, so a document of nested
    fragments spread many times (which would make every validation rule walk an
    exponential tree) is measured in linear time.  Cycles count as nothing here:
    the standard NoFragmentCycles rule refuses them.
    """
    fragments = fragments_of(document)
    sizes: dict[str, int] = {}

    def size(selection_set: SelectionSetNode | None, path: frozenset[str]) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set, path)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set, path)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in path or name not in fragments:
                    continue
                if name not in sizes:
                    sizes[name] = size(fragments[name].selection_set, path | {name})
                total += sizes[name]
            if total > MAX_EXPANDED_FIELDS:
                return total
        return total

    return sum(
        size(d.selection_set, frozenset())
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )


class ExpansionLimit(SchemaExtension):
    """Refuses, right after parsing, documents whose fragments expand too far:
    before any validation rule (ours or Strawberry's) walks them."""

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None and expanded_fields(document) > MAX_EXPANDED_FIELDS:
            raise GraphQLError(
                f"The document expands to more than {MAX_EXPANDED_FIELDS} fields.",
                extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
            )
