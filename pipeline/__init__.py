"""The jobs, one sub-package per verb (dataset, train, edit, eval, bench, serve), over a small core every job
shares: configs, storage, shards, the sharded-job skeleton, manifests, names, Ray start-up, progress, the CLI."""
