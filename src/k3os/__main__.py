"""`python -m k3os` runs the command line, as the zipapp does."""

from k3os.cli import main

if __name__ == "__main__":
    main()
