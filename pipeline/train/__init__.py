"""`python -m pipeline train` / `train-regressor`: the mapper on Ray Train, its losses, plan, reports and export."""
