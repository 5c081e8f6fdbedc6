"""Where the MLflow server of `karpa deploy` keeps artifacts, and a check that it can.

The server proxies artifacts (`mlflow server --serve-artifacts --artifacts-destination`):
clients log to and load from `mlflow-artifacts:` over HTTP and need no shared disk and no
object-store credentials. The destination is a folder on the server's machine (default
`<home>/mlartifacts`) or an S3 bucket (`s3://bucket/prefix`), reached through MLflow's own
S3 support (boto3) with the standard variables: `MLFLOW_S3_ENDPOINT_URL` for an
S3-compatible store, `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (or any other source
boto3 reads) for the credentials. Before the server starts, the bucket is asked once, so
a store that refuses the credentials is one sentence, not a server that fails each upload.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from karpa.errors import KarpaError
from karpa.home import Home

ARTIFACTS_VAR = "KARPA_ARTIFACTS_DESTINATION"
ENDPOINT_VAR = "MLFLOW_S3_ENDPOINT_URL"


class ArtifactStoreError(KarpaError):
    """The artifact destination is malformed, or its store cannot be used."""


def configured_destination(flag: str | None, home: Home) -> str:
    """`--artifacts-destination`, else `KARPA_ARTIFACTS_DESTINATION`, else the home's
    `mlartifacts` folder; a folder as an absolute path, S3 as `s3://bucket[/prefix]`."""
    source, raw = (
        ("--artifacts-destination", flag)
        if flag
        else (ARTIFACTS_VAR, os.environ.get(ARTIFACTS_VAR, "").strip())
    )
    if not raw:
        return str(home.artifacts)
    parts = urlsplit(raw)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ArtifactStoreError(f"{source}={raw}: no bucket; expected s3://BUCKET[/PREFIX]")
        return raw.rstrip("/")
    if parts.scheme == "file":
        return str(Path(parts.path).resolve())
    if parts.scheme and len(parts.scheme) > 1:  # a one-letter scheme is a Windows drive
        raise ArtifactStoreError(
            f"{source}={raw}: {parts.scheme}:// is not supported; give a folder or s3://BUCKET"
        )
    return str(Path(raw).expanduser().resolve())


def describe_destination(destination: str) -> str:
    """The destination as messages name it: the S3 endpoint too, when one is set."""
    if destination.startswith("s3://"):
        endpoint = os.environ.get(ENDPOINT_VAR) or "AWS S3"
        return f"{destination} at {endpoint}"
    return destination


def check_destination(destination: str) -> None:
    """Make a folder destination; for S3, ask the bucket with the credentials the server
    will use. A refusal, a missing bucket or an endpoint that does not answer is one
    sentence naming the object store and its address."""
    if not destination.startswith("s3://"):
        try:
            Path(destination).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactStoreError(
                f"the artifact folder {destination} cannot be created: {exc.strerror}"
            ) from None
        return
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = urlsplit(destination).netloc
    where = describe_destination(destination)
    try:
        s3 = boto3.client("s3", endpoint_url=os.environ.get(ENDPOINT_VAR) or None)
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", "?"))
        if code in ("404", "NoSuchBucket"):
            raise ArtifactStoreError(
                f"the object store {where} has no bucket {bucket}; create it first"
            ) from None
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise ArtifactStoreError(
                f"the object store {where} refused the credentials (HTTP 403); check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
            ) from None
        raise ArtifactStoreError(
            f"the object store {where} answered {code} when asked for bucket {bucket}"
        ) from None
    except BotoCoreError as exc:
        raise ArtifactStoreError(f"the object store {where} cannot be reached: {exc}") from None
