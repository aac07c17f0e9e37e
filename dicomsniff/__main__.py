"""``python -m dicomsniff``."""

from .cli import main

main()
