"""Compiled operations: a query or mutation seen before runs from a plan made once.

This is the service's one fast path.  Strawberry and graphql-core do, for every
request, work that only depends on the document: find the operation, collect
the fields (fragments, aliases, ``@skip``/``@include``), look up each field's
resolver and scalar, run the extension hooks.  For a document that has already
parsed and validated (every limit included) on the general path,
``compile_plan`` does that work once and keeps, per (document, operation name):

- each root field's graphql-core field and the nodes its arguments come from,
  and the resolver itself when Strawberry's wrapper would only rename the
  arguments (``schema.direct``); otherwise that wrapper, which converts
  arguments (input objects) and runs permissions;
- below it, a completer per type: row builders (``schema.rows``: attribute reads
  through the object, so descriptors such as lazy decryption or masking still
  apply), the scalar's output coercion, lists, nullability;
- the root fields the operation guard (``schema.guard``) looks at, and the
  operation's name for logs and metrics.

``Plan.run`` asks the guard, coerces the variables, calls the root resolvers in
order and builds the ``data`` object directly.  It covers only what gives the
very same answer: operations without abstract types, field arguments below the
root, async field resolvers below the root, directives with variables,
``@defer``/``@stream`` or fragment variables.  When the guard refuses or a
variable does not coerce, nothing has run and ``run`` returns None: the request
goes the general way, which reports it exactly as always.  When a resolver
raises or a value needs an error (a null in a non-null field, a scalar that does
not serialize), a query also goes the general way (running a query twice
changes nothing); a mutation is never run twice: graphql-core completes the
operation with the results in hand (``Plan._replay``), so its errors read as on
the general path.  ``tests/test_compiled.py`` compares both ways byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    ExecutionResult,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    Undefined,
    VariableDefinitionNode,
    VariableNode,
    execute,
    is_leaf_type,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.get_variable_signature import GraphQLVariableSignature
from graphql.execution.values import (
    VariableValues,
    VariableValueSource,
    get_argument_values,
    get_variable_signature,
    get_variable_values,
)
from graphql.language import Visitor, visit
from graphql.pyutils import Path
from graphql.type.definition import GraphQLResolveInfoHelpers
from strawberry.extensions import SchemaExtension
from strawberry.schema import Schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.utils.await_maybe import await_maybe

from schema.arguments import argument_reader
from schema.direct import DirectCall, direct_call
from schema.fields import PASSTHROUGH, field_getter, plain_attribute
from schema.guard import is_list_type, refusal
from schema.limits import fields_of
from schema.rows import Column, Fallback, RowBuilder

Completer = Callable[[Any], Any]


class _NotCovered(Exception):
    """The document has a shape the plan does not cover."""


def _no_tracking(values: Any) -> None:
    raise Fallback  # a resolver with side work belongs to the general path


#: Resolvers of this schema do not use graphql-core's async helpers; a plan has no
#: executor to track work for, so asking for one sends the request the general way.
_HELPERS = GraphQLResolveInfoHelpers(gather=asyncio.gather, track=_no_tracking)  # type: ignore[arg-type]


def _is_awaitable(value: Any) -> bool:
    return asyncio.iscoroutine(value) or hasattr(value, "__await__")


class _UsesVariableInDirective(Visitor):
    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        for argument in node.arguments or ():
            if isinstance(argument.value, VariableNode):
                raise _NotCovered
        if node.name.value in ("defer", "stream"):
            raise _NotCovered


def _leaf(leaf: Any) -> Completer:
    """A leaf outside an object (a list of scalars): its output coercion."""
    passthrough = PASSTHROUGH.get(leaf.name)
    coerce = leaf.coerce_output_value

    def complete(value: Any) -> Any:
        if type(value) is passthrough:
            return value
        coerced = coerce(value)
        if coerced is Undefined or coerced is None:
            raise Fallback
        return coerced

    return complete


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDetails],
        operation: OperationDefinitionNode,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.operation = operation
        self.no_variables = VariableValues(sources={}, coerced={})

    def completer(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Completer:
        if isinstance(type_, GraphQLNonNull):
            inner = self.completer(type_.of_type, details)

            def non_null(value: Any) -> Any:
                if value is None:
                    raise Fallback
                return inner(value)

            return non_null
        inner = self._nullable(type_, details)

        def nullable(value: Any) -> Any:
            return None if value is None else inner(value)

        return nullable

    def _nullable(self, type_: GraphQLOutputType, details: list[FieldDetails]) -> Completer:
        if isinstance(type_, GraphQLList):
            item_type = type_.of_type
            non_null = isinstance(item_type, GraphQLNonNull)
            named = item_type.of_type if non_null else item_type
            if isinstance(named, GraphQLObjectType) and named.is_type_of is None:
                return self._rows(self._object(named, details), non_null=non_null)
            item = self.completer(item_type, details)

            def items(value: Any) -> list[Any]:
                if not isinstance(value, list | tuple):
                    raise Fallback
                return [item(each) for each in value]

            return items
        if is_leaf_type(type_):
            return _leaf(type_)
        if isinstance(type_, GraphQLObjectType) and type_.is_type_of is None:
            return self._object(type_, details)
        raise _NotCovered  # interfaces and unions

    @staticmethod
    def _rows(builder: RowBuilder, *, non_null: bool) -> Completer:
        """A list of objects: the builder made for the objects' class, found once per run
        of objects of one class (a list's rows are one class), then one call per row."""

        def rows(value: Any) -> list[Any]:
            if not isinstance(value, list | tuple):
                raise Fallback
            built: list[Any] = []
            cls: type | None = None
            build = builder.general
            for each in value:
                if each is None:
                    if non_null:
                        raise Fallback
                    built.append(None)
                    continue
                if each.__class__ is not cls:
                    cls = each.__class__
                    build = builder.of(cls)
                built.append(build(each))
            return built

        return rows

    def _object(self, object_type: GraphQLObjectType, details: list[FieldDetails]) -> RowBuilder:
        collected = collect_subfields(
            self.schema, self.fragments, self.no_variables, self.operation, object_type, details
        )
        if collected.new_defer_usages:
            raise _NotCovered
        columns: list[Column] = []
        for key, field_details in collected.grouped_field_set.items():
            node = field_details[0].node
            name = node.name.value
            if name == "__typename":
                columns.append(Column(key, typename=object_type.name))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None or node.arguments or field_def.args:
                raise _NotCovered
            getter = field_getter(field_def)
            if getter is None:
                raise _NotCovered
            source = {"attribute": plain_attribute(field_def), "function": getter}
            type_ = field_def.type
            non_null = isinstance(type_, GraphQLNonNull)
            leaf = type_.of_type if non_null else type_
            if is_leaf_type(leaf):
                passthrough = PASSTHROUGH.get(leaf.name)
                coerce = leaf.coerce_output_value
                columns.append(Column(key, **source, coerce=coerce, passthrough=passthrough,
                                      nullable=not non_null))  # fmt: skip
            else:
                columns.append(Column(key, **source, complete=self.completer(type_, field_details)))
        return RowBuilder(columns)


class _RootField:
    __slots__ = ("arguments", "complete", "direct", "field_def", "key", "nodes", "path")

    def __init__(
        self,
        key: str,
        field_def: GraphQLField,
        nodes: list[Any],
        complete: Completer,
        root: GraphQLObjectType,
        direct: DirectCall | None = None,
    ) -> None:
        self.key = key
        self.field_def = field_def
        self.nodes = nodes
        self.complete = complete
        self.direct = direct
        self.path = Path(None, key, root.name)
        self.arguments = argument_reader(field_def, nodes[0]) if field_def is not None else None


class _Raised:
    """A root resolver's exception, kept for the replay."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class Plan:
    """What a validated operation does, found once; ``run`` answers from it."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDefinitionNode],
        fields: list[_RootField],
        operation_label: str,
    ) -> None:
        self.schema = schema
        self.document = document
        self.operation = operation
        self.is_mutation = operation.operation is OperationType.MUTATION
        self.variable_definitions = operation.variable_definitions or ()
        self.fragments = fragments
        self.fields = fields
        self.root_type = schema.mutation_type if self.is_mutation else schema.query_type
        self.roots = fields_of(operation.selection_set, fragments.get)
        #: Whether the guard has anything to refuse: a mutation (a read key's), or list
        #: variables (too long) at all.
        self.guarded = self.is_mutation or any(
            is_list_type(d.type) for d in self.variable_definitions
        )
        self.direct_variables = _direct_variables(schema, self.variable_definitions)
        #: What NameOperation would set for logs and metrics.
        self.operation_label = operation_label

    def _variables(self, inputs: dict[str, Any]) -> VariableValues | None:
        """Coerced as graphql-core does: built-in scalars and input objects of them
        directly, the rest by graphql-core."""
        if self.direct_variables is None:
            values = get_variable_values(self.schema, self.variable_definitions, inputs)
            return None if isinstance(values, list) else values
        sources: dict[str, VariableValueSource] = {}
        coerced: dict[str, Any] = {}
        for name, signature, non_null, coerce in self.direct_variables:
            value = inputs.get(name, Undefined)
            if value is Undefined:
                if non_null:
                    return None
                sources[name] = VariableValueSource(signature)
                continue
            sources[name] = VariableValueSource(signature, value)
            if value is None:
                if non_null:
                    return None
                coerced[name] = None
                continue
            try:
                coerced[name] = coerce(value)
            except Exception:
                return None
        return VariableValues(sources, coerced)

    async def run(
        self, variables: dict[str, Any] | None, context: Any
    ) -> dict[str, Any] | ExecutionResult | None:
        """The ``data`` object; or None when the general path must answer (nothing has
        run yet); or, once a mutation's resolver ran and something needs an error, the
        general path's result with the results already in hand (``_replay``)."""
        inputs = variables or {}
        if self.guarded and refusal(self.operation, self.roots, inputs, context.caller):
            return None  # the general path refuses it the same way
        values = self._variables(inputs)
        if values is None:
            return None
        data: dict[str, Any] = {}
        done: dict[str, Any] | None = {} if self.is_mutation else None
        for field in self.fields:
            if field.field_def is None:
                data[field.key] = field.complete  # __typename
                continue
            try:
                result = self._call(field, values, context)
                if _is_awaitable(result):
                    result = await result
            except Exception as exc:
                if done is None:
                    return None
                done[field.key] = _Raised(exc)
                return await self._replay(done, inputs, context)
            try:
                data[field.key] = field.complete(result)
            except Exception:
                if done is None:
                    return None
                done[field.key] = result
                return await self._replay(done, inputs, context)
            if done is not None:
                done[field.key] = result
        return data

    def _call(self, field: _RootField, values: VariableValues, context: Any) -> Any:
        """The root resolver's result, or its awaitable."""
        field_def = field.field_def
        if field.arguments is not None:
            args = field.arguments(values)
        else:
            args = get_argument_values(field_def, field.nodes[0], values)
        info = GraphQLResolveInfo(
            field.nodes[0].name.value,
            field.nodes,
            field_def.type,
            self.root_type,  # type: ignore[arg-type]
            field.path,
            self.schema,
            self.fragments,
            None,
            self.operation,
            values,
            context,
            _is_awaitable,
            None,
            _HELPERS,
        )
        if field.direct is not None:
            return field.direct(info, args)
        return field_def.resolve(None, info, **args)  # type: ignore[misc]

    async def _replay(
        self, done: dict[str, Any], inputs: dict[str, Any], context: Any
    ) -> ExecutionResult:
        """graphql-core's answer to the operation, each root field already resolved
        given its result (or its exception) instead of running again: a mutation runs
        once, and its errors read exactly as on the general path.  Root fields the plan
        did not reach run there, in order, as they would have."""

        def replay(next_: Any, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
            path = info.path
            if path.prev is None and path.key in done:
                value = done.pop(path.key)
                if isinstance(value, _Raised):
                    raise value.error
                return value
            return next_(root, info, **args)

        result = execute(
            self.schema,
            self.document,
            context_value=context,
            variable_values=inputs,
            operation_name=self.operation.name.value if self.operation.name else None,
            middleware=[replay],
            executor_class=StrawberryGraphQLCoreExecutionContext,
            is_awaitable=_is_awaitable,
        )
        return await await_maybe(result)  # type: ignore[no-any-return]


#: Variable types coerced directly: graphql-core's own built-in scalars.
_BUILT_IN = {"ID", "String", "Int", "Float", "Boolean"}


class _DoesNotCoerce(Exception):
    """A variable's value graphql-core would refuse: the general path reports it."""


def _scalar(named: GraphQLScalarType) -> Callable[[Any], Any]:
    coerce = named.coerce_input_value

    def scalar(value: Any) -> Any:
        parsed = coerce(value)  # raises on a value of the wrong kind
        if parsed is Undefined:
            raise _DoesNotCoerce
        return parsed

    return scalar


def _input_object(named: GraphQLInputObjectType) -> Callable[[Any], Any] | None:
    """The coercion of an input object of built-in scalar fields without defaults
    (a customer input), as graphql-core's gives it: the fields given, by name; None
    for any other input object."""
    if named.is_one_of or named.out_type is not GraphQLInputObjectType.out_type:
        return None
    fields = []
    for name, field in named.fields.items():
        type_ = field.type
        non_null = isinstance(type_, GraphQLNonNull)
        inner = type_.of_type if non_null else type_
        if field.default_value is not Undefined or field.out_name is not None:
            return None
        if not isinstance(inner, GraphQLScalarType) or inner.name not in _BUILT_IN:
            return None
        fields.append((name, non_null, _scalar(inner)))
    known = frozenset(named.fields)

    def input_object(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict) or not known.issuperset(value):
            raise _DoesNotCoerce
        coerced = {}
        for name, non_null, coerce in fields:
            given = value.get(name, Undefined)
            if given is Undefined:
                if non_null:
                    raise _DoesNotCoerce
                continue
            if given is None:
                if non_null:
                    raise _DoesNotCoerce
                coerced[name] = None
                continue
            coerced[name] = coerce(given)
        return coerced

    return input_object


def _direct_variables(
    schema: GraphQLSchema, definitions: Iterable[VariableDefinitionNode]
) -> list[tuple[str, GraphQLVariableSignature, bool, Callable[[Any], Any]]] | None:
    """(name, signature, non-null, coercion) per variable, when every one is a built-in
    scalar or an input object of them, without a default; else None (graphql-core
    coerces them)."""
    found = []
    for definition in definitions:
        signature = get_variable_signature(schema, definition)
        if isinstance(signature, GraphQLError) or definition.default_value is not None:
            return None
        type_ = signature.type
        non_null = isinstance(type_, GraphQLNonNull)
        named = type_.of_type if non_null else type_
        if isinstance(named, GraphQLScalarType) and named.name in _BUILT_IN:
            coerce: Callable[[Any], Any] | None = _scalar(named)
        elif isinstance(named, GraphQLInputObjectType):
            coerce = _input_object(named)
        else:
            coerce = None
        if coerce is None:
            return None
        found.append((signature.name, signature, non_null, coerce))
    return found


def _fragments(
    document: DocumentNode,
) -> tuple[dict[str, FragmentDefinitionNode], dict[str, FragmentDetails]]:
    definitions: dict[str, FragmentDefinitionNode] = {}
    details: dict[str, FragmentDetails] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                raise _NotCovered
            definitions[definition.name.value] = definition
            details[definition.name.value] = FragmentDetails(definition, None)
    return definitions, details


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        if len(operations) != 1:
            raise _NotCovered
        return operations[0]
    for operation in operations:
        if operation.name and operation.name.value == name:
            return operation
    raise _NotCovered


def compile_plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    operation_label: str,
    extensions: Iterable[type[SchemaExtension]],
    resolvers_of: Schema | None = None,
) -> Plan | None:
    """The plan of a validated document, or None when it is not a shape plans cover.

    With ``resolvers_of`` (the Strawberry schema), root resolvers that need nothing
    of Strawberry's wrapper are called directly."""
    if any(getattr(ext, "resolve", None) is not SchemaExtension.resolve for ext in extensions):
        return None  # a resolve hook is middleware: only the general path runs it
    try:
        operation = _operation(document, operation_name)
        if operation.operation is OperationType.SUBSCRIPTION or operation.directives:
            return None
        visit(document, _UsesVariableInDirective())
        definitions, fragments = _fragments(document)
        compiler = _Compiler(schema, fragments, operation)
        is_query = operation.operation is OperationType.QUERY
        root = schema.query_type if is_query else schema.mutation_type
        assert root is not None
        collected = collect_fields(schema, fragments, compiler.no_variables, root, operation)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            return None
        fields: list[_RootField] = []
        for key, details in collected.grouped_field_set.items():
            name = details[0].node.name.value
            nodes = [d.node for d in details]
            if name == "__typename":
                fields.append(_RootField(key, None, nodes, root.name, root))  # type: ignore[arg-type]
                continue
            field_def = root.fields.get(name)
            if field_def is None or field_def.resolve is None:
                return None
            direct = direct_call(field_def, resolvers_of) if resolvers_of is not None else None
            complete = compiler.completer(field_def.type, details)
            fields.append(_RootField(key, field_def, nodes, complete, root, direct))
    except _NotCovered:
        return None
    return Plan(schema, document, operation, definitions, fields, operation_label)
