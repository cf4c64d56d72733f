"""The full per-row report of an import, written to a file as the rows come."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from domain.imports.service import RowResult

CSV_HEADER = ("row", "unified_social_credit_code", "outcome", "effect", "notes")


class ReportFile:
    """Every row's outcome and notes: JSON (``{"rows": [...], "summary": {...}}``) or CSV
    (notes joined by `` | ``, each led by its outcome), written to ``handle`` (an import
    job keeps it as its output file)."""

    def __init__(self, handle: TextIO, *, is_json: bool) -> None:
        self.is_json = is_json
        self._handle = handle
        self._writer = csv.writer(self._handle)
        self.rows = 0
        if self.is_json:
            self._handle.write('{"rows": [\n')
        else:
            self._writer.writerow(CSV_HEADER)

    def add(self, result: RowResult) -> None:
        if self.is_json:
            separator = ",\n" if self.rows else ""
            self._handle.write(separator + json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            notes = " | ".join(f"{n.outcome.value}: {n.text}" for n in result.notes)
            self._writer.writerow(
                (result.number, result.code, result.outcome.value, result.effect.value, notes)
            )
        self.rows += 1

    @property
    def content_type(self) -> str:
        return "application/json" if self.is_json else "text/csv; charset=utf-8"

    def close(self, summary: dict[str, Any] | None) -> None:
        """Finish the report; the summary goes into a JSON one (None: the import failed)."""
        if self.is_json:
            tail = json.dumps(summary, ensure_ascii=False, default=str)
            self._handle.write(f'\n], "summary": {tail}}}\n')
