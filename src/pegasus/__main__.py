"""`python -m pegasus` is the `pegasus` command."""

from pegasus.cli import main

main()
