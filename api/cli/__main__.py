"""``python -m api.cli``: the same as the ``lendgraph`` command (used to start children)."""

from api.cli import main

main()
