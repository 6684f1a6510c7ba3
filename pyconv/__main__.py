"""``python -m pyconv``: the same command line as the ``pyconv`` console script."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
