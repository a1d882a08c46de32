"""`python -m hydro.cli`: the same as the `hydro` console script."""

from hydro.cli.main import main

main()
