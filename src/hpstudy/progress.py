"""Progress of long work where the user looks: a rich bar on the terminal's stderr, or an
output that updates in place in a Jupyter notebook (no widgets needed); and figures shown as
images in a notebook.

`progress_view(True)` picks the kind for the current process; `None` (quiet) shows nothing.
"""

from __future__ import annotations

import html
import sys
import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressView(Protocol):
    """Lines of text and one bar at a time."""

    def line(self, text: str) -> None: ...

    def start(self, title: str, total: int | None, transient: bool = False) -> None: ...

    def update(self, done: int, total: int | None, note: str) -> None: ...

    def stop(self) -> None: ...

    def interrupted(self) -> None: ...


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython's ZMQ shell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def figures_inline() -> None:
    """In a notebook, show matplotlib Figures as PNG images, as pyplot's inline backend does
    (hpstudy draws on Agg canvases, without pyplot)."""
    if not in_notebook():
        return
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    formatter = get_ipython().display_formatter.formatters["image/png"]
    formatter.for_type(Figure, lambda figure: print_figure(figure, "png", bbox_inches="tight"))


def progress_view(show: bool) -> ProgressView | None:
    """The view for this process, or None when `show` is false."""
    if not show:
        return None
    return NotebookView() if in_notebook() else TerminalView()


class TerminalView:
    """rich on stderr: lines, and a bar with done/total, elapsed, ETA and a note."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.progress: Progress | None = None
        self.bar: Any = None

    def line(self, text: str) -> None:
        self.console.print(text, highlight=False)

    def start(self, title: str, total: int | None, transient: bool = False) -> None:
        self.progress = Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[note]}"), console=self.console,
                                 transient=transient)
        self.bar = self.progress.add_task(title, total=total, note="")
        self.progress.start()

    def update(self, done: int, total: int | None, note: str) -> None:
        if self.progress is not None:
            self.progress.update(self.bar, completed=done, total=total, note=note)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def interrupted(self) -> None:
        """Nothing: the command line says what an interrupt leaves."""


class NotebookView:
    """One output per line, and a bar (an HTML <progress>) updated in place."""

    def __init__(self) -> None:
        self.handle: Any = None
        self.title = ""
        self.started = 0.0

    def line(self, text: str) -> None:
        from IPython.display import display

        display({"text/plain": text}, raw=True)

    def start(self, title: str, total: int | None, transient: bool = False) -> None:
        from IPython.display import display

        self.title, self.started = title, time.monotonic()
        self.handle = display(self._bundle(0, total, ""), raw=True, display_id=True)

    def update(self, done: int, total: int | None, note: str) -> None:
        if self.handle is not None:
            self.handle.update(self._bundle(done, total, note), raw=True)

    def stop(self) -> None:
        self.handle = None

    def interrupted(self) -> None:
        self.line("interrupted: finished trainings are stored and running ones are queued "
                  "again; run the same cell again to resume.")

    def _bundle(self, done: int, total: int | None, note: str) -> dict[str, str]:
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.monotonic() - self.started))
        count = f"{done}/{total if total is not None else '?'}"
        text = f"{self.title} {count} {elapsed} {note}".rstrip()
        bar = f'<progress value="{done}" max="{total or 1}" style="width: 16em"></progress>'
        markup = (f"<div><b>{html.escape(self.title)}</b> {bar} {count} &middot; {elapsed}"
                  f" &middot; {html.escape(note)}</div>")
        return {"text/plain": text, "text/html": markup}
