"""Business rules. Each module holds one domain; resolvers call these functions."""
