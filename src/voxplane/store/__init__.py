"""The store: SQLAlchemy 2 (async) tables, repositories and Alembic migrations.

Repositories read and stage writes on the session they are given; they never commit. The
services own the unit of work (:class:`voxplane.store.db.Database.unit`).
"""
