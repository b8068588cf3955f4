"""Config, naming, I/O, manifests, composition of stages into Ray jobs, and the CLI."""
