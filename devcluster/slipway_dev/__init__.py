"""The dev cluster: a local control plane for `slipway dev`, the demo and the tests.

- `apiserver/`: a Kubernetes-compatible API server (kubectl 1.32, kopf, the Python client).
- `world.py`, `controllers/`, `pods.py`, `gateway.py`, `traffic/`, `load.py`, `scrape.py`: the simulated
  world, every part of it a REST client of that server; the gateway's front door takes real requests.
- `prometheus.py`, `alertmanager.py`: the real binaries as child processes.
- `cluster.py`: `DevCluster`, all of it behind one synchronous context manager.
- `commands/`: `slipway dev` and `slipway demo`, added to the operator's `slipway` command through the
  `slipway.commands` entry-point group (this is its own distribution, slipway-dev, never in the operator's).

Nothing is imported here, so importing one part never starts loading the others.
"""
