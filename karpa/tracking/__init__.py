"""Everything that talks to MLflow lives in this package, and nothing else imports MLflow.

`runs`: parent and child runs, parameters, metrics, datasets and artifacts, always by
explicit run id. `models`: pyfunc models that take raw inputs, logged and registered.
"""

import os

# A tracking server that proxies artifacts to S3 (`karpa deploy --artifacts-destination
# s3://…`) advertises presigned multipart transfers, and MLflow's client then downloads
# every artifact (uploads past 500 MB) straight from the bucket: a client would need to
# reach the object store, which proxying exists to spare it. Through the server, unless
# the user asks otherwise.
for _name in ("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD"):
    os.environ.setdefault(_name, "false")

from karpa.tracking.runs import Tracker  # noqa: E402 - after the defaults MLflow reads

__all__ = ["Tracker"]
