"""Everything that talks to MLflow lives in this package, and nothing else imports MLflow.

`runs`: parent and child runs, parameters, metrics, datasets and artifacts, always by
explicit run id. `models`: pyfunc models that take raw inputs, logged and registered.
"""

from karpa.tracking.runs import Tracker

__all__ = ["Tracker"]
