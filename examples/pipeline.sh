#!/bin/sh
# `make pipeline`: build and sign the pipeline's three modules, then run examples/pipeline.yaml
# until Ctrl-C (arguments are passed on to `wascc up`). The keys are made on first use and kept
# in ~/.wascc/keys ($WASCC_KEYS). PIPELINE_DATA is where the files go (default:
# examples/pipeline-data); PIPELINE_PORT the HTTP port (default 8084).
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
wascc() { "$PY" -m wascc.host.cli "$@"; }

"$PY" actors/build.py blobstore wordcount pipeline
wascc claims sign actors/build/blobstore.wasm --provider --name blobstore -l
wascc claims sign actors/build/wordcount.wasm --name wordcount
PROCESSOR=$(wascc claims inspect actors/build/wordcount_s.wasm -o json |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["module"])')
wascc claims sign actors/build/pipeline.wasm --name pipeline -q -k \
    --cap wascc:blobstore --cap "$PROCESSOR"

# The granted directories must exist before the manifest is checked.
data=${PIPELINE_DATA:-pipeline-data}
case $data in /*) ;; *) data="$PWD/examples/$data" ;; esac
mkdir -p "$data/blobs/pipeline"
PIPELINE_DATA=$data PROCESSOR=$PROCESSOR exec "$PY" -m wascc.host.cli up examples/pipeline.yaml \
    --expand-env "$@"
