"""What one extract run did, for metadata, logs and tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from .window import ReadWindow


@dataclass
class ExtractReport:
    source_object: str
    table: str
    window: ReadWindow
    rows: int = 0
    deleted: int = 0
    invalid: int = 0
    #: Rows flagged deleted because the source no longer returns them (purged / hard-deleted).
    purged_marked: int = 0
    columns_added: list[str] = field(default_factory=list)
    schema_drift: dict = field(default_factory=dict)
    invalid_sample: list[dict] = field(default_factory=list)
