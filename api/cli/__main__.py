"""``python -m api.cli``: the ``orienter`` command line."""

from api.cli.root import main

main()
