"""Networks and their checkpoint loaders: the only code that knows a weights format."""
