"""The `hydro` command line: deploy models, list and invoke applications, run the platform.

One module per command group (`deploy`, `models`, `apps`, `invoke`, `keys`, `monitor`, `drift`,
`services`), `render` for how output looks, `arguments` for the shared argument parsers, and `main`
assembling the group and mapping Hydro's errors to exit codes.
"""

from hydro.cli.main import cli, main

__all__ = ["cli", "main"]
