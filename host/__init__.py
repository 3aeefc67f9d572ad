"""The wascc-py host: runs signed waPC actors on wasmtime and routes their calls."""
