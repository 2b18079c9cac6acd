"""Live reload for ``tradelane serve``: the mappings folder and ``tradelane.yaml`` are
watched (a fingerprint of their files, checked every second, and SIGHUP); a change loads the
project again and merges it with the running one:

- a new, changed or fixed route runs its new version from its next poll;
- a route whose mapping became invalid keeps running the version loaded before, with an
  alert, until its mapping is fixed (a typo saved in an editor must not stop a feed);
- a removed route stops;
- settings that only a restart can apply (ledger, folders, serve, health, console, lease)
  keep their running values, and the log says a restart is needed.

What changed is logged, route by route.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from tradelane.errors import ConfigError
from tradelane.spec import Project, load_project

log = logging.getLogger("tradelane.serve")

#: Settings read once at start: a change is logged and applied at the next restart.
RESTART_SETTINGS = ("ledger", "mappings", "folders", "lease", "serve", "health", "console",
                    "worker")


def fingerprint(project: Project) -> tuple[tuple[str, int, int], ...]:
    """Name, mtime and size of tradelane.yaml and of every file under the mappings folder
    (specs, lookup tables, hooks)."""
    settings = project.settings
    files = [settings.root / "tradelane.yaml"]
    mappings = settings.path(settings.mappings)
    if mappings.is_dir():
        files += [p for p in mappings.rglob("*") if "__pycache__" not in p.parts]
    partners = mappings.parent / "partners"  # a partner's ids are its routes' too
    if partners.is_dir():
        files += list(partners.glob("*.y*ml"))
    out = []
    for path in sorted(files):
        try:
            st = path.stat()
        except OSError:
            continue  # removed while listing: the next check sees it
        if path.is_file():
            out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


@dataclass
class Changes:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)  # now invalid: the old version runs on
    invalid: list[str] = field(default_factory=list)  # new, or still, invalid and not running
    settings: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.added, self.removed, self.changed, self.fixed, self.broken,
                    self.invalid, self.settings, self.restart))

    @property
    def rescheduled(self) -> set[str]:
        """Routes whose jobs, source and watcher are made afresh."""
        return set(self.added) | set(self.removed) | set(self.changed) | set(self.fixed)


def merge(old: Project, new: Project) -> tuple[Project, Changes]:
    """The project serve runs from now on, and what changed."""
    changes = Changes()
    routes = dict(new.routes)
    for name in sorted(new.invalid):
        if name in old.routes:
            routes[name] = old.routes[name]  # keep serving the version that was valid
            if name not in old.invalid or old.invalid[name] != new.invalid[name]:
                changes.broken.append(name)
        elif old.invalid.get(name) != new.invalid[name]:
            changes.invalid.append(name)
    for name, route in sorted(new.routes.items()):
        if name in old.invalid:
            changes.fixed.append(name)
        elif name not in old.routes:
            changes.added.append(name)
        elif old.routes[name].version != route.version:
            changes.changed.append(name)
    changes.removed = sorted((set(old.routes) | set(old.invalid))
                             - set(new.routes) - set(new.invalid))
    before = old.settings.model_dump(exclude={"root"})
    after = new.settings.model_dump(exclude={"root"})
    changes.settings = sorted(k for k in after if after[k] != before.get(k)
                              and k not in RESTART_SETTINGS)
    changes.restart = sorted(k for k in RESTART_SETTINGS if after.get(k) != before.get(k))
    kept = {k: getattr(old.settings, k) for k in RESTART_SETTINGS}
    settings = new.settings.model_copy(update=kept)
    routes = {name: routes[name] for name in sorted(routes)}
    return Project(settings=settings, routes=routes, invalid=new.invalid,
                   partners=new.partners), changes


def reload(running: Project) -> tuple[Project, Changes] | None:
    """Load the project from disk again and merge it; None when tradelane.yaml itself is
    wrong (every route keeps running as it is)."""
    root = Path(running.settings.root)
    try:
        new = load_project(root, isolate=True)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("reload: %s; nothing changed, the running configuration stays", problem)
        return None
    return merge(running, new)


def describe(changes: Changes, project: Project) -> list[tuple[int, str]]:
    """Log lines (level, text) for what changed."""
    lines: list[tuple[int, str]] = []
    for name in changes.added:
        lines.append((logging.INFO, f"reload: route {name} added"))
    for name in changes.changed:
        lines.append((logging.INFO, f"reload: route {name} changed (version"
                                    f" {project.routes[name].version})"))
    for name in changes.fixed:
        lines.append((logging.INFO, f"reload: route {name} is valid again (version"
                                    f" {project.routes[name].version})"))
    for name in changes.removed:
        lines.append((logging.INFO, f"reload: route {name} removed"))
    for name in changes.broken:
        lines.append((logging.ERROR, f"reload: route {name}: its mapping is invalid; still"
                                     f" running the version loaded before"
                                     f" ({project.routes[name].version}):"
                                     f" {'; '.join(project.invalid[name])}"))
    for name in changes.invalid:
        lines.append((logging.ERROR, f"reload: route {name} is disabled, its mapping is"
                                     f" invalid: {'; '.join(project.invalid[name])}"))
    if changes.settings:
        lines.append((logging.INFO, f"reload: tradelane.yaml: {', '.join(changes.settings)}"
                                    " changed"))
    if changes.restart:
        lines.append((logging.WARNING, f"reload: tradelane.yaml: {', '.join(changes.restart)}"
                                       " changed; restart serve to apply"))
    return lines
