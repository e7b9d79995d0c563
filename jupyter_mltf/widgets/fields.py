"""Marking the input an error is about: ``MLTFError.field`` names it, the panel gives that widget a red border
and shows the message right below its row; every other mark is cleared.

The panel registers each markable widget with the label of its row (:meth:`FieldMarks.add`); an error whose
field has no widget here (``name``, ``experiment``...) or no field at all is the panel's general message.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from .render import error_html

#: the class a marked widget carries; :data:`STYLE` draws it
INVALID_CLASS = "mltf-invalid"
STYLE = (
    "<style>.mltf-invalid input, .mltf-invalid select, .mltf-invalid textarea "
    "{border-color: #b00020 !important; box-shadow: 0 0 0 1px #b00020;}</style>"
)


def row_label() -> Any:
    """The (hidden while empty) line below a row of fields where that row's error shows."""
    return w.HTML(layout=w.Layout(display="none"))


class FieldMarks:
    """Error field (``resources.gpus``, ``params.lr``, ``path``...) -> its widget and its row's label."""

    def __init__(self) -> None:
        self._fields: dict[str, tuple[Any, Any]] = {}
        self.marked: str | None = None

    def add(self, field: str, widget: Any, label: Any) -> None:
        self._fields[field] = (widget, label)

    def remove(self, prefix: str) -> None:
        """Forget the fields under ``prefix`` (the parameters of an entry point no longer shown)."""
        for field in [f for f in self._fields if f.startswith(prefix)]:
            if field == self.marked:
                self.clear()
            del self._fields[field]

    def widget(self, field: str | None) -> Any | None:
        entry = self._fields.get(field or "")
        return entry[0] if entry else None

    def mark(self, field: str | None, message: str) -> bool:
        """Mark ``field``'s widget with ``message`` (escaped); False when no widget here is that field."""
        self.clear()
        entry = self._fields.get(field or "")
        if entry is None:
            return False
        widget, label = entry
        widget.add_class(INVALID_CLASS)
        label.value = error_html(message)
        label.layout.display = None
        self.marked = field
        return True

    def clear(self) -> None:
        if self.marked is not None and self.marked in self._fields:
            widget, label = self._fields[self.marked]
            widget.remove_class(INVALID_CLASS)
            label.value = ""
            label.layout.display = "none"
        self.marked = None
