"""`python -m pixsearch` runs the CLI."""

from pixsearch.cli import main

main()
