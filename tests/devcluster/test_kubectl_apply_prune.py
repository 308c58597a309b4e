"""`kubectl apply --prune -l`: kubectl's default allowlist names kinds the dev cluster only stores
(PersistentVolumeClaim, PersistentVolume, ReplicationController, DaemonSet, StatefulSet, CronJob)."""

from __future__ import annotations

from apiserver_support import Kubectl

KEPT = """
apiVersion: v1
kind: ConfigMap
metadata: {name: kept, labels: {app: prune}}
"""

EVERY_PRUNED_KIND = (
    KEPT
    + """
---
apiVersion: v1
kind: ConfigMap
metadata: {name: dropped, labels: {app: prune}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, labels: {app: prune}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, labels: {app: prune}}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: example/db:1}]}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, labels: {app: prune}}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: example/agent:1}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, labels: {app: prune}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: job, image: example/job:1}]
---
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, labels: {app: prune}}
spec:
  replicas: 0
  selector: {app: legacy}
  template:
    metadata: {labels: {app: legacy}}
    spec: {containers: [{name: app, image: example/app:1}]}
"""
)


def test_apply_prune_with_a_selector_uses_the_default_allowlist(kubectl: Kubectl) -> None:
    # Follows test/cmd/apply.sh run_kubectl_apply_tests ("apply --prune -l").
    out = kubectl("apply", "--prune", "-l", "app=prune", "-f", "-", input=EVERY_PRUNED_KIND)
    for created in (
        "persistentvolumeclaim/data",
        "statefulset.apps/db",
        "daemonset.apps/agent",
        "cronjob.batch/nightly",
        "replicationcontroller/legacy",
    ):
        assert f"{created} created" in out
    out = kubectl("apply", "--prune", "-l", "app=prune", "-f", "-", input=KEPT)
    assert "configmap/kept unchanged" in out
    for pruned in (
        "configmap/dropped",
        "persistentvolumeclaim/data",
        "statefulset.apps/db",
        "daemonset.apps/agent",
        "cronjob.batch/nightly",
        "replicationcontroller/legacy",
    ):
        assert f"{pruned} pruned" in out
    assert kubectl("get", "pvc,sts,ds,cj,rc", "-l", "app=prune", "-o", "name").strip() == ""


def test_the_stored_only_kinds_are_in_discovery(kubectl: Kubectl) -> None:
    resources = kubectl("api-resources", "--no-headers")
    for short in ("pvc", "pv", "rc", "ds", "sts", "cj"):
        assert f" {short} " in resources
