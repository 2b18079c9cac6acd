"""What the console holds for its whole life: the project folder, the ledger, the ops user,
its sessions and the login throttle."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tradelane.ledger import Ledger
from tradelane.ledger.sessions import Sessions
from tradelane.runner import Runner
from tradelane.spec import Project, Settings, load_project
from tradelane.web.auth import Accounts, Credentials
from tradelane.web.session import SessionManager
from tradelane.web.throttle import LoginThrottle


class Console:
    """The same ledger as the CLI; the project is reloaded per request so that a mapping
    fixed on disk applies to the next reprocess without restarting the console."""

    def __init__(self, project_dir: Path, settings: Settings, credentials: Credentials,
                 session_secret: str):
        self.project_dir = project_dir
        self.settings = settings
        self.credentials = credentials
        self.accounts = Accounts(credentials, settings.console.user)  # roles.current_user
        self.ledger = Ledger(settings.ledger_url, worker=f"console:{settings.console.user}",
                             lease=settings.lease)
        spec = settings.console
        self.sessions = SessionManager(Sessions(self.ledger), session_secret,
                                       lifetime=spec.session_max_age,
                                       secure=spec.secure_cookie)
        self.throttle = LoginThrottle(keep_users=(spec.user,))
        # one action at a time: a double click must not start two reprocess attempts
        self._actions = threading.Lock()

    def project(self) -> Project:
        return load_project(self.project_dir, isolate=True)

    @contextmanager
    def pipeline(self) -> Iterator[Runner]:
        project = self.project()
        with self._actions, Runner(project, self.ledger) as pipeline:
            yield pipeline

    def close(self) -> None:
        self.ledger.close()
