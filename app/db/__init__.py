"""The database: the ORM connection, migrations under a lock, the embedded PostgreSQL."""
