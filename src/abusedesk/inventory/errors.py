"""What goes wrong with inventory rows and files."""

from collections.abc import Sequence

from abusedesk.core.errors import AbuseDeskError
from abusedesk.inventory.model import RowError


class RowRejected(AbuseDeskError):
    """Raise when a row cannot become a record; carries one error per bad field."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("; ".join(f"{e.field or 'row'}: {e.message}" for e in errors))
        self.errors = tuple(errors)


class UnknownTable(AbuseDeskError):
    """Raise when a table name is not one the inventory feeds."""


class InventoryFileUnreadable(AbuseDeskError):
    """Raise when an import file cannot be opened, decompressed or decoded."""
