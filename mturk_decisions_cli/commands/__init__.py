"""The commands of `mturk-decisions`, by concern; `main.py` registers them on the group.

- `decisions`: reject, reverse, approve, confirm, cancel-reversal (one assignment each)
- `audit`: show, history (reads of the audit)
- `pending`: the automatic reversals waiting
- `batches`: apply (a results CSV), reverse-hit: plan, confirmation, submission
- `watching`: batch (a batch's status and items), and following a batch until it completes
- `options`, `paging`: what several commands share (options, checks, lists in pages)

Each command calls the API through `App.call`, and hands its answer to `App.emit` as one `render.Output`:
the API's JSON with --json, else text for people rendered from the typed `models`.
"""
