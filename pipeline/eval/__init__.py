"""`python -m pipeline eval` / `probe`: the one judge of an edit, the linear baseline, the evaluation."""
