"""The dev cluster's Kubernetes API server: what kubectl 1.32, kopf and the Python client need.

Public interface: `ApiServer`, `Credentials`, `FaultConfig`, `read_credentials`, `write_kubeconfig`,
`running_apiserver`.
"""

from slipway_dev.apiserver.credentials import Credentials
from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.apiserver.kubeconfig import read_credentials, write_kubeconfig
from slipway_dev.apiserver.server import ApiServer
from slipway_dev.apiserver.threaded import running_apiserver

__all__ = [
    "ApiServer",
    "Credentials",
    "FaultConfig",
    "read_credentials",
    "running_apiserver",
    "write_kubeconfig",
]
