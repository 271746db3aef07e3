"""The GraphQL layer: Strawberry types, resolvers and the HTTP view.

Imports app/, never the reverse.
"""
