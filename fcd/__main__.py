"""``python -m fcd`` starts the daemon, exactly like the ``fcd`` script."""

from fcd.daemon import main

if __name__ == "__main__":
    main()
