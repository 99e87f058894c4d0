"""Storage: SQLAlchemy tables, repositories and migrations implementing the domain's ports."""
