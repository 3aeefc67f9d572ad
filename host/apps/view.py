"""``wascc ctl get apps`` and ``wascc ctl get app NAME``: the store, shown."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from wascc.host.apps.store import AppStore
from wascc.host.lattice.client import LatticeClient
from wascc.host.lattice.ctl import _run
from wascc.host.lattice.subjects import Subjects

__all__ = ["app_state", "show_apps"]


def show_apps(url: str, namespace: str | None, kind: str, name: str | None, output: str) -> None:
    """Print the applications (``kind`` "apps") or one (``kind`` "app" and ``name``)."""
    if kind == "app" and not name:
        raise click.UsageError("`get app` needs the application's NAME")
    if kind == "apps" and name:
        raise click.UsageError("`get apps` takes no NAME; use `get app NAME`")

    async def read(client: LatticeClient, subjects: Subjects) -> list[dict[str, Any]]:
        store = await AppStore(client, subjects.namespace).open()
        names = [name] if name else await store.names()
        found = []
        for each in names:
            app = await store.described(each)
            if app is None:
                raise click.ClickException(f"no application {each} in the lattice")
            found.append(app)
        return found

    apps = _run(url, namespace, read)
    if output == "json":
        click.echo(json.dumps(apps[0] if name else apps, indent=2))
        return
    if name:
        for line in _app_lines(apps[0]):
            click.echo(line)
        return
    if not apps:
        click.echo("no applications in the lattice")
        return
    click.echo("NAME  VERSION  ACTORS  REPLICAS  STATUS")
    for app in apps:
        click.echo(f"{app['name']}  {app['current']}  {_summary(app)}")


def app_state(app: dict[str, Any]) -> dict[str, Any]:
    """How far ``app`` (``AppStore.described``) got: its actors, the replicas placed and
    wanted, and a word for it ("ready", "reconciling", "not reconciled yet", "deleting" or
    "error: ...")."""
    actors = app["spec"].get("actors", [])
    wanted = sum(int(a.get("replicas", 1)) for a in actors)
    status = app.get("status") or {}
    placed = len(status.get("placements", []))
    if app.get("deleted"):
        state = "deleting"
    elif not status:
        state = "not reconciled yet"
    elif status.get("error"):
        state = f"error: {status['error']}"
    elif placed == wanted:
        state = "ready"
    else:
        state = "reconciling"
    return {"actors": len(actors), "placed": placed, "wanted": wanted, "state": state}


def _summary(app: dict[str, Any]) -> str:
    shown = app_state(app)
    return f"{shown['actors']}  {shown['placed']}/{shown['wanted']}  {shown['state']}"


def _app_lines(app: dict[str, Any]) -> list[str]:
    spec, status = app["spec"], app.get("status")
    kept = ", ".join(str(v) for v in app["versions"])
    lines = [
        f"application {app['name']}"
        + (f" {spec['version']}" if spec.get("version") else "")
        + f": version {app['current']} of {kept}"
        + (" (deleted: its actors are being stopped)" if app.get("deleted") else ""),
        "actors:",
    ]
    for actor in spec.get("actors", []):
        labels = ", ".join(f"{k}={v}" for k, v in actor.get("constraints", {}).items()) or "any"
        lines.append(
            f"  {actor['key']}  {actor.get('name') or '-'}  replicas {actor['replicas']}  "
            f"hosts: {labels}"
        )
    for provider in spec.get("providers", []):
        labels = ", ".join(f"{k}={v}" for k, v in provider.get("constraints", {}).items())
        lines.append(
            f"provider {provider['contract']} ({provider['name']}, binding "
            f"{provider['binding']}) on hosts: {labels or 'any'}"
        )
    if status is None:
        lines.append("not reconciled yet (is a `wascc reconciler` running?)")
        return lines
    ago = time.time() - float(status.get("reconciled_at", 0))
    lines.append(f"placements ({ago:.0f}s ago, by {status.get('reconciler')}):")
    lines += [
        f"  {p['actor']}  {p.get('name') or '-'}  on {p['host_id']}"
        for p in status.get("placements", [])
    ] or ["  none"]
    lines.append(f"last error: {status['error'] or 'none'}")
    return lines
