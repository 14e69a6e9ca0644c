"""`python -m healthdeck` runs the command line."""

from healthdeck.cli.app import main

main()
