"""What the console holds for its whole life: the project folder, the ledger, who may log in
(``accounts.Accounts``), their sessions and the login throttle."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tradelane.ledger import Ledger
from tradelane.ledger.sessions import Sessions
from tradelane.ledger.users import Users
from tradelane.runner import Runner
from tradelane.spec import Project, Settings, load_project
from tradelane.web.accounts import Accounts
from tradelane.web.auth import Credentials
from tradelane.web.roles import User
from tradelane.web.session import SessionManager
from tradelane.web.throttle import LoginThrottle


class Console:
    """The same ledger as the CLI; the project is reloaded per request so that a mapping
    fixed on disk applies to the next reprocess without restarting the console."""

    def __init__(self, project_dir: Path, settings: Settings, credentials: Credentials | None,
                 session_secret: str):
        self.project_dir = project_dir
        self.settings = settings
        self.ledger = Ledger(settings.ledger_url, worker=f"console:{settings.console.user}",
                             lease=settings.lease)
        self.accounts = Accounts(Users(self.ledger), credentials, settings.console.user)
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
    def pipeline(self, actor: User | None = None) -> Iterator[Runner]:
        """The engine, for one action at a time; what it records in the files' history
        names ``actor`` (``console:alice``), the user who asked."""
        project = self.project()
        ledger = self.ledger if actor is None else self.ledger.acting_as(f"console:{actor.name}")
        with self._actions, Runner(project, ledger) as pipeline:
            yield pipeline

    def close(self) -> None:
        self.ledger.close()
