"""The commands of `mturk-decisions`, by concern; `main.py` registers them on the group.

- `decisions`: reject, reverse, approve, confirm, cancel-reversal (one assignment each)
- `audit`: show, history (reads of the audit)
- `pending`: the automatic reversals waiting
- `batches`: apply (a results CSV), reverse-hit: plan, confirmation, submission
- `watching`: batch (a batch's status and items), and following a batch until it completes
"""
