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
    #: Rows staged with the NULs PostgreSQL cannot store removed (the original kept in `raw`).
    cleaned: int = 0
    cleaned_sample: list[dict] = field(default_factory=list)
    #: Records the database refused even with their typed columns null: held (`held_record`), not staged.
    held: int = 0

    def take_counts(self, writer) -> None:
        """The counts of the `StagingWriter` that staged this run's pages."""
        counts = writer.counts
        self.rows, self.deleted, self.invalid = counts["rows"], counts["deleted"], counts["invalid"]
        self.cleaned, self.held = counts["cleaned"], counts["held"]
        self.invalid_sample, self.cleaned_sample = writer.invalid_sample, writer.cleaned_sample
