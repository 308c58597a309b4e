"""Validation and defaulting of built-in kinds that kubectl users meet: container names, volumes without a
source, and Service cluster IPs (allocated, unique, immutable, released)."""

from __future__ import annotations

import ipaddress
import json

from apiserver_support import Http, Kubectl

NAMELESS_CONTAINER = """
apiVersion: v1
kind: Pod
metadata: {name: nameless}
spec:
  containers: [{image: example/app:1}]
"""

DEPLOYMENT_WITH_BARE_VOLUME = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: app, image: example/app:1, volumeMounts: [{name: scratch, mountPath: /tmp}]}]
      volumes: [{name: scratch}]
"""


def _service(name: str, **spec: object) -> str:
    body = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": 80}], **spec},
    }
    return json.dumps(body)


def test_a_container_without_a_name_is_invalid_even_in_a_dry_run(kubectl: Kubectl) -> None:
    # Follows test/cmd/create.sh / core.sh "validation" cases (a Pod missing required fields).
    for extra in (["--dry-run=server"], []):
        result = kubectl.run("create", "-f", "-", *extra, input=NAMELESS_CONTAINER)
        assert result.returncode != 0
        assert 'The Pod "nameless" is invalid: spec.containers[0].name: Required value' in result.stderr
    duplicated = NAMELESS_CONTAINER.replace("[{image: example/app:1}]", "[{name: a}, {name: a}]")
    result = kubectl.run("create", "-f", "-", input=duplicated)
    assert 'spec.containers[1].name: Duplicate value: "a"' in result.stderr


def test_a_deployment_template_is_validated_too(kubectl: Kubectl) -> None:
    broken = DEPLOYMENT_WITH_BARE_VOLUME.replace("{name: app, image", "{image")
    result = kubectl.run("apply", "-f", "-", input=broken)
    assert "spec.template.spec.containers[0].name: Required value" in result.stderr


def test_a_volume_without_a_source_becomes_an_empty_dir(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=DEPLOYMENT_WITH_BARE_VOLUME)
    volumes = kubectl.json("get", "deployment", "web")["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "scratch", "emptyDir": {}}]


def test_services_get_unique_cluster_ips_from_the_service_range(kubectl: Kubectl) -> None:
    # Follows test/cmd/core.sh run_service_tests.
    for name in ("a", "b", "c"):
        kubectl("apply", "-f", "-", input=_service(name))
    ips = [kubectl.json("get", "service", name)["spec"]["clusterIP"] for name in ("a", "b", "c")]
    assert len(set(ips)) == 3
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
    assert ips[0] in kubectl("get", "svc", "a")
    kubectl("apply", "-f", "-", input=_service("headless", clusterIP="None"))
    headless = kubectl.json("get", "service", "headless")["spec"]
    assert (headless["clusterIP"], headless["clusterIPs"]) == ("None", ["None"])
    # A second apply of the same manifest (no clusterIP in it) keeps the allocated address.
    kubectl("apply", "-f", "-", input=_service("a", ports=[{"port": 81}]))
    assert kubectl.json("get", "service", "a")["spec"]["clusterIP"] == ips[0]


def test_a_requested_cluster_ip_is_honoured_once_and_released_on_delete(kubectl: Kubectl) -> None:
    kubectl("apply", "-f", "-", input=_service("a", clusterIP="10.96.100.100"))
    assert kubectl.json("get", "service", "a")["spec"]["clusterIP"] == "10.96.100.100"
    taken = kubectl.run("apply", "-f", "-", input=_service("b", clusterIP="10.96.100.100"))
    assert "provided IP is already allocated" in taken.stderr
    outside = kubectl.run("apply", "-f", "-", input=_service("b", clusterIP="192.168.0.1"))
    assert "The range of valid IPs is 10.96.0.0/12" in outside.stderr
    kubectl("delete", "service", "a")
    kubectl("apply", "-f", "-", input=_service("b", clusterIP="10.96.100.100"))


def test_cluster_ip_may_not_change_once_set(kubectl: Kubectl, http: Http) -> None:
    kubectl("apply", "-f", "-", input=_service("a"))
    ip = kubectl.json("get", "service", "a")["spec"]["clusterIP"]
    result = kubectl.run("patch", "service", "a", "-p", '{"spec": {"clusterIP": "10.96.7.7"}}')
    assert result.returncode != 0
    expected = 'spec.clusterIPs[0]: Invalid value: []string{"10.96.7.7"}: may not change once set'
    assert f'The Service "a" is invalid: {expected}' in result.stderr
    assert kubectl.json("get", "service", "a")["spec"]["clusterIP"] == ip
    # A PUT without the field keeps it, as a real server's update strategy does.
    current = http("GET", "/api/v1/namespaces/default/services/a").body
    del current["spec"]["clusterIP"], current["spec"]["clusterIPs"]
    answer = http("PUT", "/api/v1/namespaces/default/services/a", current)
    assert answer.status == 200 and answer.body["spec"]["clusterIP"] == ip
