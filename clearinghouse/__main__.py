"""``python -m clearinghouse`` runs the command line."""

from clearinghouse.cli import main

main()
