"""Validation rules that refuse expensive documents before execution.

- List cost: every list a document asks for is counted at its largest size
  (``customers(limit)``, ``customerConnection(first)`` per list selected under it,
  ``searchCustomers`` 50; a variable counts as the maximum, 100), summed over
  aliases and fragments.  ``customers(limit: 100)`` under ten aliases is 1,000.
- Introspection depth: Strawberry's depth limit skips introspection fields.
  Circular introspection (``types { fields { type { fields``) is refused by
  graphql-core's MaxIntrospectionDepthRule, but that one does not count
  ``ofType``; here no introspection path may be deeper than the standard
  introspection query's (15 levels), which GraphiQL and codegen tools send.
- Selection width: at most MAX_SELECTIONS fields in one selection set, so a
  field repeated hundreds of times (graphql-cop's duplication probe) is refused.

Each reports an ordinary validation error, so the answer is HTTP 400 with
GRAPHQL_VALIDATION_FAILED, like the depth, token and alias limits.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)

MAX_LIST_COST = 500
MAX_INTROSPECTION_DEPTH = 15
MAX_SELECTIONS = 64

LIST_MAX = 100
SEARCH_SIZE = 50
#: list fields of the schema and the argument that sizes them (with its default)
SIZED = {"customers": ("limit", 50), "customerConnection": ("first", 50)}


def _size(field: FieldNode, argument: str, default: int) -> int:
    for arg in field.arguments or ():
        if arg.name.value == argument:
            if isinstance(arg.value, IntValueNode):
                return max(0, int(arg.value.value))
            if isinstance(arg.value, VariableNode):
                return LIST_MAX
    return default


class _Walker(ValidationRule):
    """Walks each operation's selections, fragments expanded (cycles stop)."""

    def fields(
        self, selection_set: SelectionSetNode | None, seen: frozenset[str] = frozenset()
    ) -> list[FieldNode]:
        found: list[FieldNode] = []
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                found.append(selection)
            elif isinstance(selection, InlineFragmentNode):
                found += self.fields(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in seen:
                    found += self.fields(fragment.selection_set, seen | {name})
        return found


class ListCostRule(_Walker):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        cost = 0
        for field in self.fields(node.selection_set):
            name = field.name.value
            if name == "searchCustomers":
                cost += SEARCH_SIZE
            elif name in SIZED:
                size = _size(field, *SIZED[name])
                lists = [
                    f
                    for f in self.fields(field.selection_set)
                    if f.name.value in ("edges", "nodes")
                ]
                cost += size * max(1, len(lists))
        if cost > MAX_LIST_COST:
            self.report_error(
                GraphQLError(
                    f"The document asks for up to {cost} list items; the limit is {MAX_LIST_COST}.",
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
