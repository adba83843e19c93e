"""Real servers for the browser and scale-out tests, on free ports of 127.0.0.1.

An MLflow tracking server (``mlflow server``) and a throwaway PostgreSQL cluster (``initdb`` in a
temporary folder). Each is a context manager that starts the server, waits until it answers, and
stops exactly the process it started.
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@contextmanager
def mlflow_server(command, folder, timeout=120):
    """An MLflow server started by ``command`` (``mlflow server ...`` or ``mlflow ui ...``, a list)
    on a free port of 127.0.0.1; yields its ``http://127.0.0.1:PORT``. Its log goes to ``folder``.

    Job execution is switched off and ``--workers 1`` belongs in ``command``: with its default pool
    of workers the server took up to 50 s to answer.
    """
    port = free_port()
    log = Path(folder) / f"mlflow-{port}.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", *command, "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        # in its own folder: what a server writes relative to its cwd must not land in the checkout
        server = subprocess.Popen(command, env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_health(url, server, timeout, log)
        yield url
    finally:
        _stop(server)


def tracking_server(backend_uri, folder):
    """``mlflow server`` over ``backend_uri`` that stores the artifacts its clients send in ``folder``."""
    return mlflow_server(["mlflow", "server", "--workers", "1", "--backend-store-uri", backend_uri,
                          "--artifacts-destination", (Path(folder) / "artifacts").as_uri()], folder)


def _wait_for_health(url, server, timeout, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} did not answer /health within {timeout} s:\n{_tail(log)}")


def _stop(process):
    """SIGTERM the process we started; its own process group only if it does not end in time."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group start_new_session gave this server
        process.wait(timeout=10)


def postgres_bin(name):
    """A PostgreSQL server program: Debian keeps them in /usr/lib/postgresql/<version>/bin."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextmanager
def postgres_cluster(database="mlflow"):
    """A new PostgreSQL cluster on 127.0.0.1 with ``database`` in it; yields its SQLAlchemy URI.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
    (``runuser``); its folder is made under /tmp because pytest's own temporary folders are closed
    to other users.
    """
    initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="nnplug-pg-"))
    data, log = folder / "data", folder / "server.log"
    if as_owner:
        shutil.chown(folder, "postgres", "postgres")
    port = free_port()
    try:
        subprocess.run(as_owner + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust",
                                   "--encoding=UTF8", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        options = f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
        started = subprocess.run(as_owner + [pg_ctl, "-D", str(data), "-o", options, "-l", str(log),
                                             "-w", "-t", "60", "start"], capture_output=True, timeout=90)
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.decode()}\n{_tail(log)}")
        try:
            _create_database(port, database)
            # psycopg2 named explicitly: SQLAlchemy 2.1 takes plain postgresql:// to mean psycopg 3
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/{database}"
        finally:
            subprocess.run(as_owner + [pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _create_database(port, database):
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{database}"')
    finally:
        connection.close()
