#!/usr/bin/env bash
# Submit one pipeline verb to a Ray cluster as a Ray job; the working dir ships the code.
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh dataset --generator s3://b/ffhq.pkl --out s3://b/ffhq-1m ...
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh train --dataset s3://b/ffhq-1m --attributes all --num-workers 8 --use-gpu
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh edit --mapper s3://b/run/export --dataset s3://b/ffhq-1m ...
set -euo pipefail
verb="${1:?usage: jobs/submit.sh dataset|train|train-regressor|edit|eval ARGS...}"
shift
cd "$(dirname "$0")/.."
# L2L_RUNTIME_ENV: another runtime env, e.g. one without `pip` where the nodes' image already holds every dependency
exec ray job submit --working-dir . --runtime-env "${L2L_RUNTIME_ENV:-jobs/runtime_env.yaml}" -- python -m pipeline "$verb" "$@"
