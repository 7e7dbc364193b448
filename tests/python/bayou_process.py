"""`bayou serve` as a child process for the Python client tests: a fresh data directory, a free
port on 127.0.0.1, fixed credentials, and REST helpers to make the records that produce events.

The binary is `$BAYOU_BIN` (the test command passes the one it built), else
`target/debug/bayou` from the repository root.
"""

import json
import os
import subprocess
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BAYOU_BIN = os.environ.get("BAYOU_BIN", str(REPO / "target" / "debug" / "bayou"))

USERNAME = "grace.hopper@bayou.test"
PASSWORD = "COBOL-1959-flow-matic"
CLIENT_ID = "3MVG9python.interop.client"
CLIENT_SECRET = "python-interop-client-secret"


class BayouProcess:
    """A running `bayou serve`; `stop()` (or the context manager) ends it."""

    def __init__(self, *args: str, anonymous: bool = False) -> None:
        self._data = tempfile.TemporaryDirectory(prefix="bayou-python-")
        argv = [BAYOU_BIN, "serve", "--listen", "127.0.0.1:0", "--log", "warn",
                "--data-dir", self._data.name, *args]
        if anonymous:
            argv.append("--anonymous")
        env = {"PATH": os.environ.get("PATH", ""), "BAYOU_USERNAME": USERNAME,
               "BAYOU_PASSWORD": PASSWORD, "BAYOU_CLIENT_ID": CLIENT_ID,
               "BAYOU_CLIENT_SECRET": CLIENT_SECRET}
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"bayou did not start: {line!r}")
        self.origin = line.removeprefix("listening on ")
        # The Pub/Sub API (gRPC) announces itself next: `pubsub listening on https://HOST:PORT`.
        self.pubsub = None
        if "off" not in args:
            line = self.process.stdout.readline().strip()
            if line.startswith("pubsub listening on "):
                self.pubsub = line.removeprefix("pubsub listening on ").split("://", 1)[1]
        self._token = None

    def __enter__(self) -> "BayouProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def data_dir(self) -> Path:
        return Path(self._data.name)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._data.cleanup()

    @property
    def token_url(self) -> str:
        return f"{self.origin}/services/oauth2/token"

    def token(self) -> str:
        """An access token for the org's user (OAuth password grant)."""
        if self._token is None:
            form = urllib.parse.urlencode({
                "grant_type": "password", "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "username": USERNAME, "password": PASSWORD,
            }).encode()
            with urllib.request.urlopen(self.token_url, data=form, timeout=10) as reply:
                self._token = json.load(reply)["access_token"]
        return self._token

    def create(self, sobject: str, fields: dict) -> str:
        """Creates a record over REST; returns its id."""
        request = urllib.request.Request(
            f"{self.origin}/services/data/v66.0/sobjects/{sobject}",
            data=json.dumps(fields).encode(), method="POST",
            headers={"Authorization": f"Bearer {self.token()}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            created = json.load(reply)
        assert created["success"], created
        return created["id"]
