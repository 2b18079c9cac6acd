"""``python -m tradelane``: the same as the ``tradelane`` command."""

from tradelane.cli.main import main

if __name__ == "__main__":
    main()
