#!/usr/bin/env bash
# Submit one pipeline verb to a Ray cluster as a Ray job; the working dir ships the code. Follows the job's log to
# its end and exits with its final status: 0 SUCCEEDED, 1 FAILED, 2 STOPPED, 3 anything else (the log broke off).
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh dataset --generator s3://b/ffhq.pkl --out s3://b/ffhq-1m ...
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh train --dataset s3://b/ffhq-1m --attributes all --num-workers 8 --use-gpu
#   RAY_ADDRESS=http://head:8265 jobs/submit.sh edit --mapper s3://b/run/export --dataset s3://b/ffhq-1m ...
# With token authentication on (jobs/README.md) give it the cluster's token: RAY_AUTH_MODE=token, and ~/.ray/auth_token,
# RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN.
set -euo pipefail
verb="${1:?usage: jobs/submit.sh dataset|train|train-regressor|edit|eval ARGS...}"
shift
cd "$(dirname "$0")/.."
# our own id: the status is asked for by it once the log ends (`ray job submit` exits 0 for a stopped job)
id="l2l-$verb-$(date +%Y%m%d-%H%M%S)-$RANDOM"
# L2L_RUNTIME_ENV: another runtime env, e.g. one without `pip` where the nodes' image already holds every dependency
ray job submit --submission-id "$id" --working-dir . --runtime-env "${L2L_RUNTIME_ENV:-jobs/runtime_env.yaml}" \
    -- python -m pipeline "$verb" "$@" || true
status="$(ray job status --log-color false "$id" 2>&1)" || { echo "$status" >&2; exit 3; }
case "$status" in
    *"Job '$id' succeeded"*) exit 0 ;;
    *"Job '$id' failed"*) echo "jobs/submit.sh: job $id FAILED" >&2; exit 1 ;;
    *"Job '$id' was stopped"*) echo "jobs/submit.sh: job $id STOPPED" >&2; exit 2 ;;
    *) echo "jobs/submit.sh: job $id did not finish: ${status##*$'\n'} (ray job logs -f $id)" >&2; exit 3 ;;
esac
