"""The build's terminal output: a rich progress bar while pages render, and a closing summary."""
from __future__ import annotations

from typing import Any

from reportgen.printing import printable
from reportgen.site.fmt import size


class BuildConsole:
    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> "BuildConsole":
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            console = Console(stderr=True)
            if console.is_terminal:  # a bar in a CI log is noise; the summary says it all
                self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                          TimeElapsedColumn(), console=console, transient=True)
                self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def progress(self, phase: str, advance: int, total: int | None) -> None:
        if self._progress is None:
            return
        if self._task is None or total is not None:
            if self._task is not None:
                self._progress.remove_task(self._task)
            self._task = self._progress.add_task(phase, total=total)
        self._progress.update(self._task, description=phase, advance=advance)

    def summary(self, result: Any) -> None:
        if self.quiet:
            return
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        warnings = len(result.problems)
        console.print(
            f"Built {result.pages} pages for {result.runs} runs in {result.experiments} experiments: "
            f"{size(result.size_bytes)} in {result.seconds:.1f}s, "
            f"{warnings} warning{'' if warnings == 1 else 's'} -> {printable(result.output)}",
            soft_wrap=True,
        )
        if result.reused:
            console.print(f"  {result.reused} run and experiment folders reused from the build cache", markup=False)
        for note in result.notes:
            console.print(f"  note: {printable(note)}", markup=False, soft_wrap=True)
        for problem in result.problems[:5]:
            console.print(f"  warning: {printable(problem)}", markup=False, soft_wrap=True)
        if warnings > 5:
            console.print(f"  ... and {warnings - 5} more on problems.html", markup=False)
