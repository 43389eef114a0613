"""`mturk-decisions`: the requester's command line for the mturk-decisions API (see `main.py`)."""

__version__ = "0.1.0"
