"""The full per-row report of an import, written to a file as the rows come."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from domain.imports.service import RowResult

CSV_HEADER = ("row", "unified_social_credit_code", "outcome", "effect", "notes")


class ReportFile:
    """Every row's outcome and notes: JSON (``{"rows": [...], "summary": {...}}``) for a
    ``.json`` path, CSV otherwise (notes joined by `` | ``, each led by its outcome)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.is_json = path.suffix.lower() == ".json"
        self._handle = path.open("w", encoding="utf-8", newline="")
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

    def close(self, summary: dict[str, Any] | None) -> None:
        """Finish the file; the summary goes into a JSON report (None: the import failed)."""
        if self.is_json:
            tail = json.dumps(summary, ensure_ascii=False, default=str)
            self._handle.write(f'\n], "summary": {tail}}}\n')
        self._handle.close()
