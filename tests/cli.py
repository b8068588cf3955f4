"""The CLI's own entry point, run in the test's process: its argument parsing, exit codes and one-line errors,
without a new interpreter and Ray per case."""

from __future__ import annotations


def run_main(capsys, *argv: str) -> tuple[int, str]:
    """`python -m pipeline *argv` as main() runs it: (exit code, stderr)."""
    from pipeline.cli import main

    capsys.readouterr()
    rc = main(list(argv))
    return rc, capsys.readouterr().err
