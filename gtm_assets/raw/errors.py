"""Problems found in raw input and the error that rejects a load."""

from __future__ import annotations

from dataclasses import dataclass

MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One located problem: which file, which data row (1-based, header excluded) and
    column, the offending value, the rule it broke and a readable sentence."""

    file: str
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f" row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


def quote_value(value: object, limit: int = 60) -> str:
    """Render a raw value for a message: quoted, shortened, control characters escaped."""
    if value is None:
        return "(empty)"
    text = str(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f'"{text}"'


class RawInputError(ValueError):
    """The raw exports were rejected; nothing in the warehouse was changed.

    ``str(err)`` is one readable paragraph per problem (at most 20, then "and N more");
    ``err.problems`` is the full structured list.
    """

    def __init__(self, problems: list[Problem], raw_dir: str | None = None) -> None:
        self.problems = list(problems)
        self.raw_dir = raw_dir
        super().__init__(self._render())

    def _render(self) -> str:
        n = len(self.problems)
        where = f" in {self.raw_dir}" if self.raw_dir else ""
        head = (
            f"The raw input{where} was rejected ({n} problem{'s' if n != 1 else ''}); "
            "the warehouse was left unchanged."
        )
        lines = [head]
        lines += [str(p) for p in self.problems[:MAX_LISTED_PROBLEMS]]
        if n > MAX_LISTED_PROBLEMS:
            lines.append(f"... and {n - MAX_LISTED_PROBLEMS} more.")
        return "\n\n".join(lines)
