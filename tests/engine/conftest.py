"""Fixtures for the wasm execution layer: a running engine, instances on both call paths.

Every behavioural test takes ``make_instance`` (or ``fast``) and so runs twice: on the fast
path (``host._fastpath``, wasmtime's unchecked C API) and on the public wasmtime-py API.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.engine.wat_actors import MakeInstance, RecordingHandler, digest
from wascc.host.engine import Engine, Limits
from wascc.host.wapc import WapcInstance


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A started engine without a disk cache; stopped afterwards."""
    engine = Engine()
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(params=[True, False], ids=["fast", "public"])
def fast(request: pytest.FixtureRequest) -> bool:
    """Both call paths: the unchecked C API one and the public wasmtime-py one."""
    return bool(request.param)


@pytest.fixture
def make_instance(engine: Engine, fast: bool) -> Iterator[MakeInstance]:
    """Compile and instantiate a module on the path under test; every instance is closed."""
    made: list[WapcInstance] = []

    def make(
        module: bytes,
        handler: RecordingHandler | None = None,
        *,
        limits: Limits | None = None,
        fuel: bool = False,
    ) -> WapcInstance:
        limits = limits or Limits()
        compiled = engine.compile(module, digest(module), fuel=fuel or limits.fuel is not None)
        instance = WapcInstance.create(
            engine, compiled, limits, handler or RecordingHandler(), fast=fast
        )
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.close()
