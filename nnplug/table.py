"""Plain-text tables for the terminal and for logs: aligned columns, no colour, no dependency.

Plain text because the same output goes to a terminal, a CI log and a Hydra log file alike.
"""


def format_table(headers, rows, align=None):
    """Rows of values as aligned columns under ``headers``, with a rule below the header.

    ``align`` is a string of 'l'/'r' per column (left by default); values are shown with ``str``.
    """
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" * len(headers)

    def line(row):
        parts = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(row, widths, align)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def _cell(value):
    return "-" if value is None else str(value)
