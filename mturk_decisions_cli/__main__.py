"""`python -m mturk_decisions_cli ...` is the same as `mturk-decisions ...`."""
from mturk_decisions_cli.main import main

if __name__ == "__main__":
    main()
