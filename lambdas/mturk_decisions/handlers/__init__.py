"""The Lambda entry points. Importing this package pauses Python's cyclic collector in a Lambda execution
environment until the first invocation ends (`mturk_decisions.collector`): before any handler's imports."""
from mturk_decisions import collector

collector.pause()
