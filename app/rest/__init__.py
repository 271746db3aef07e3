"""The REST API of the customers reference, served beside GraphQL."""
