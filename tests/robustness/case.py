"""One row of the bad-input corpus (see corpus.py for what each field means)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LIMIT_BYTES = 64 * 1024  # the corpus servers' max_project_bytes
NON_UTF8 = b"bad-\xff-name".decode("utf-8", "surrogateescape")  # how Python sees a non-UTF-8 file name
ALL = ("rest", "cli", "magic")
RES = ("rest", "cli", "magic")


@dataclass
class Case:
    id: str
    body: dict[str, Any] | bytes
    status: int
    words: list[str]
    surfaces: tuple[str, ...] = ("rest",)
    project: str = "tiny"
    endpoint: str = "jobs"
    form: dict[str, str] | None = None  # the hub's advanced form fields, for resource rows
    defect: str | None = None  # the patch that fixes it, where the row found a defect

    @property
    def rest_body(self) -> dict[str, Any] | bytes:
        if isinstance(self.body, bytes):
            return self.body
        body = dict(self.body)
        body.setdefault("path", self.project)
        return body
