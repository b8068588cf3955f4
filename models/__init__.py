"""Networks and their checkpoint loaders, the only code that knows a weights format, grouped by role
(generators, labelers, identity, editors); the attribute catalog, the factory by name and weight files at the top."""
