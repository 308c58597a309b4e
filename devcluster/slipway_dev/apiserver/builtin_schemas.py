"""OpenAPI v3 schemas of the built-in kinds, nested as far as the dev cluster's objects go, so that
`kubectl explain pod.status.message` or `deployment.spec.strategy.rollingUpdate.maxSurge` works.

Descriptions are short summaries written for this server. Int-or-string fields carry
`x-kubernetes-int-or-string` (kubectl explain shows them as <IntOrString>). These schemas serve
`kubectl explain` only: PATCH operations declare no request body, so kubectl keeps computing strategic
merge patches from its compiled-in types.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def _s(description: str) -> Schema:
    return {"type": "string", "description": description}


def _i(description: str) -> Schema:
    return {"type": "integer", "format": "int32", "description": description}


def _b(description: str) -> Schema:
    return {"type": "boolean", "description": description}


INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
# As the real documents publish it: a component without a `type` (kubectl explain then names the
# reference, <IntOrString>), marked int-or-string as CRD schemas mark such fields.
INT_OR_STRING_SCHEMA: Schema = {
    "description": "IntOrString is a type that can hold an int32 or a string.",
    "format": "int-or-string",
    "x-kubernetes-int-or-string": True,
}


def _ios(description: str) -> Schema:
    return {"allOf": [{"$ref": f"#/components/schemas/{INT_OR_STRING}"}], "description": description}


def _map(description: str) -> Schema:
    return {"type": "object", "additionalProperties": {"type": "string"}, "description": description}


def _obj(description: str, required: tuple[str, ...] = (), /, **properties: Schema) -> Schema:
    schema: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _list(description: str, items: Schema) -> Schema:
    return {"type": "array", "description": description, "items": items}


def _time(description: str) -> Schema:
    return {"type": "string", "format": "date-time", "description": description}


def _conditions(description: str) -> Schema:
    return _list(
        description,
        _obj(
            "A condition of the object's state.",
            ("type", "status"),
            type=_s("Type of the condition."),
            status=_s("Status of the condition, one of True, False, Unknown."),
            reason=_s("A brief machine-readable reason for the condition's last transition."),
            message=_s("A human-readable message about the last transition."),
            lastTransitionTime=_time("Last time the condition moved from one status to another."),
            lastProbeTime=_time("Last time the condition was probed."),
            lastUpdateTime=_time("The last time this condition was updated."),
        ),
    )


_LABEL_SELECTOR = _obj(
    "A label query over a set of resources.",
    matchLabels=_map("A map of {key,value} pairs; each is a requirement that the label key equals value."),
    matchExpressions=_list(
        "A list of label selector requirements, ANDed.",
        _obj(
            "A selector requirement.",
            ("key", "operator"),
            key=_s("The label key that the selector applies to."),
            operator=_s("The key's relationship to the values: In, NotIn, Exists or DoesNotExist."),
            values=_list("An array of string values.", {"type": "string"}),
        ),
    ),
)

_HTTP_GET = _obj(
    "HTTPGet specifies the HTTP request to perform.",
    ("port",),
    path=_s("Path to access on the HTTP server."),
    port=_ios("Name or number of the port to access on the container."),
    scheme=_s("Scheme to use for connecting to the host. Defaults to HTTP."),
)
_PROBE = _obj(
    "A health check performed against a container.",
    httpGet=_HTTP_GET,
    initialDelaySeconds=_i("Seconds after the container has started before probes are initiated."),
    periodSeconds=_i("How often (in seconds) to perform the probe."),
    timeoutSeconds=_i("Seconds after which the probe times out."),
    failureThreshold=_i("Consecutive failures for the probe to be considered failed."),
    successThreshold=_i("Consecutive successes for the probe to be considered successful."),
)
_CONTAINER = _obj(
    "A single application container that you want to run within a pod.",
    ("name",),
    name=_s("Name of the container specified as a DNS_LABEL; unique within the pod. Cannot be updated."),
    image=_s("Container image name."),
    imagePullPolicy=_s("Image pull policy: Always, Never, IfNotPresent."),
    command=_list("Entrypoint array. Not executed within a shell.", {"type": "string"}),
    args=_list("Arguments to the entrypoint.", {"type": "string"}),
    env=_list(
        "List of environment variables to set in the container.",
        _obj(
            "An environment variable present in a container.",
            ("name",),
            name=_s("Name of the environment variable."),
            value=_s("Value of the environment variable."),
        ),
    ),
    ports=_list(
        "List of ports to expose from the container.",
        _obj(
            "A network port in a single container.",
            ("containerPort",),
            containerPort=_i("Number of port to expose on the pod's IP address."),
            name=_s("An IANA_SVC_NAME, unique within the pod."),
            protocol=_s("Protocol for port: UDP, TCP, or SCTP. Defaults to TCP."),
        ),
    ),
    resources=_obj(
        "Compute resources required by this container.",
        limits=_map("The maximum amount of compute resources allowed."),
        requests=_map("The minimum amount of compute resources required."),
    ),
    volumeMounts=_list(
        "Pod volumes to mount into the container's filesystem.",
        _obj(
            "A mounting of a volume within a container.",
            ("name", "mountPath"),
            name=_s("This must match the Name of a Volume."),
            mountPath=_s("Path within the container at which the volume should be mounted."),
            readOnly=_b("Mounted read-only if true."),
        ),
    ),
    readinessProbe=_PROBE,
    livenessProbe=_PROBE,
)
_POD_SPEC = _obj(
    "PodSpec is a description of a pod.",
    ("containers",),
    containers=_list("List of containers belonging to the pod.", _CONTAINER),
    initContainers=_list("List of initialization containers belonging to the pod.", _CONTAINER),
    volumes=_list(
        "List of volumes that can be mounted by containers belonging to the pod.",
        _obj(
            "A named volume in a pod.",
            ("name",),
            name=_s("Name of the volume; a DNS_LABEL, unique within the pod."),
            emptyDir=_obj(
                "A temporary directory that shares a pod's lifetime.", medium=_s("Storage medium.")
            ),
            configMap=_obj(
                "A ConfigMap that should populate this volume.", name=_s("Name of the ConfigMap.")
            ),
            secret=_obj("A Secret that should populate this volume.", secretName=_s("Name of the Secret.")),
        ),
    ),
    restartPolicy=_s("Restart policy for all containers within the pod: Always, OnFailure, Never."),
    terminationGracePeriodSeconds={
        "type": "integer",
        "format": "int64",
        "description": "Duration in seconds the pod needs to terminate gracefully. Defaults to 30 seconds.",
    },
    serviceAccountName=_s("Name of the ServiceAccount to use to run this pod."),
    nodeName=_s("The node this pod is scheduled to."),
)
_POD_STATUS = _obj(
    "Information about the status of a pod.",
    phase=_s("The phase of a Pod: Pending, Running, Succeeded, Failed or Unknown."),
    message=_s("A human readable message indicating details about why the pod is in this condition."),
    reason=_s("A brief CamelCase message indicating details about why the pod is in this state."),
    conditions=_conditions("Current service state of pod."),
    hostIP=_s("IP address of the host to which the pod is assigned."),
    podIP=_s("IP address allocated to the pod."),
    podIPs=_list("IP addresses allocated to the pod.", _obj("An IP address.", ip=_s("The IP address."))),
    startTime=_time("When the object was acknowledged by the Kubelet."),
    qosClass=_s("The Quality of Service class assigned to the pod."),
    containerStatuses=_list(
        "Statuses of the containers in this pod.",
        _obj(
            "The status of a container.",
            name=_s("Name of the container."),
            image=_s("The container image."),
            imageID=_s("The image ID of the container's image."),
            containerID=_s("The ID of the container."),
            ready=_b("Whether the container is currently passing its readiness check."),
            started=_b("Whether the container has finished its postStart hook and has started."),
            restartCount=_i("The number of times the container has been restarted."),
            state=_obj(
                "Details about the container's current condition.",
                **{
                    "running": _obj(
                        "A running container.",
                        startedAt=_time("Time at which the container was last (re-)started."),
                    ),
                    "waiting": _obj(
                        "A waiting container.",
                        reason=_s("Why the container is not yet running."),
                        message=_s("Message regarding why the container is not yet running."),
                    ),
                    "terminated": _obj(
                        "A terminated container.",
                        exitCode=_i("Exit status from the last termination."),
                        reason=_s("Reason from the last termination."),
                        startedAt=_time("Time at which the container started."),
                        finishedAt=_time("Time at which the container last terminated."),
                    ),
                },
            ),
            lastState=_obj("Details about the container's last termination condition."),
        ),
    ),
)
_TEMPLATE = _obj(
    "Describes the pods that will be created.",
    metadata={
        "allOf": [{"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}],
        "description": "Standard object's metadata.",
    },
    spec=_POD_SPEC,
)
_WORKLOAD_STATUS: dict[str, Schema] = dict(
    observedGeneration={
        "type": "integer",
        "format": "int64",
        "description": "The most recent generation observed.",
    },
    replicas=_i("Total number of non-terminating pods targeted."),
    readyReplicas=_i("Number of pods targeted with a Ready condition."),
    availableReplicas=_i("Number of available pods (ready for at least minReadySeconds)."),
)

SPEC_AND_STATUS: dict[tuple[str, str], dict[str, Schema]] = {
    ("", "Pod"): {"spec": _POD_SPEC, "status": _POD_STATUS},
    ("apps", "Deployment"): {
        "spec": _obj(
            "The specification of the desired behavior of the Deployment.",
            ("selector", "template"),
            replicas=_i("Number of desired pods. Defaults to 1."),
            selector=_LABEL_SELECTOR,
            template=_TEMPLATE,
            strategy=_obj(
                "The deployment strategy to use to replace existing pods with new ones.",
                type=_s(
                    'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is RollingUpdate.'
                ),
                rollingUpdate=_obj(
                    "Rolling update config params. Present only if type = RollingUpdate.",
                    maxSurge=_ios(
                        "The maximum number of pods that can be scheduled above the desired number of pods. "
                        "Value can be an absolute number (ex: 5) or a percentage of desired pods (ex: 10%). "
                        "Defaults to 25%."
                    ),
                    maxUnavailable=_ios(
                        "The maximum number of pods that can be unavailable during the update. Value can be "
                        "an absolute number (ex: 5) or a percentage of desired pods (ex: 10%). "
                        "Defaults to 25%."
                    ),
                ),
            ),
            minReadySeconds=_i("Minimum seconds a new pod should be ready without crashing to be available."),
            revisionHistoryLimit=_i(
                "The number of old ReplicaSets to retain to allow rollback. Defaults to 10."
            ),
            paused=_b("Indicates that the deployment is paused."),
            progressDeadlineSeconds=_i(
                "The maximum time in seconds for a deployment to make progress. Defaults to 600s."
            ),
        ),
        "status": _obj(
            "Most recently observed status of the Deployment.",
            **_WORKLOAD_STATUS,
            updatedReplicas=_i("Total number of non-terminating pods that have the desired template spec."),
            unavailableReplicas=_i("Total number of unavailable pods targeted by this deployment."),
            collisionCount=_i("Count of hash collisions for the Deployment."),
            conditions=_conditions(
                "Represents the latest available observations of a deployment's current state."
            ),
        ),
    },
    ("apps", "ReplicaSet"): {
        "spec": _obj(
            "Spec defines the specification of the desired behavior of the ReplicaSet.",
            ("selector",),
            replicas=_i("The number of desired pods. Defaults to 1."),
            selector=_LABEL_SELECTOR,
            template=_TEMPLATE,
            minReadySeconds=_i("Minimum seconds a new pod should be ready without crashing to be available."),
        ),
        "status": _obj(
            "The most recently observed status of the ReplicaSet.",
            **_WORKLOAD_STATUS,
            fullyLabeledReplicas=_i("The number of pods that have labels matching the pod template."),
            conditions=_conditions("The latest available observations of a replica set's current state."),
        ),
    },
    ("", "Service"): {
        "spec": _obj(
            "The behavior of a service.",
            type=_s("How the Service is exposed: ClusterIP, NodePort, LoadBalancer or ExternalName."),
            selector=_map("Route service traffic to pods with label keys and values matching this selector."),
            clusterIP=_s(
                'The IP address of the service, usually assigned randomly; "None" for a headless service.'
            ),
            clusterIPs=_list("The IP addresses assigned to this service.", {"type": "string"}),
            sessionAffinity=_s("ClientIP or None. Defaults to None."),
            ports=_list(
                "The list of ports that are exposed by this service.",
                _obj(
                    "ServicePort contains information on service's port.",
                    ("port",),
                    name=_s("The name of this port within the service."),
                    port=_i("The port that will be exposed by this service."),
                    targetPort=_ios(
                        "Number or name of the port to access on the pods targeted by the service."
                    ),
                    protocol=_s('The IP protocol for this port: "TCP", "UDP", or "SCTP". Default is TCP.'),
                    nodePort=_i("The port on each node on which this service is exposed."),
                ),
            ),
        ),
        "status": _obj(
            "The most recently observed status of the service.",
            loadBalancer=_obj("The current status of the load-balancer, if one is present."),
        ),
    },
    ("batch", "Job"): {
        "spec": _obj(
            "Specification of the desired behavior of a job.",
            ("template",),
            template=_TEMPLATE,
            backoffLimit=_i("The number of retries before marking this job failed. Defaults to 6."),
            completions=_i("The desired number of successfully finished pods the job should be run with."),
            parallelism=_i("The maximum desired number of pods the job should run at any given time."),
            ttlSecondsAfterFinished=_i("Limits the lifetime of a Job that has finished execution."),
            selector=_LABEL_SELECTOR,
        ),
        "status": _obj(
            "Current status of a job.",
            active=_i("The number of pending and running pods."),
            succeeded=_i("The number of pods which reached phase Succeeded."),
            failed=_i("The number of pods which reached phase Failed."),
            startTime=_time("When the job controller started processing the job."),
            completionTime=_time("When the job was completed."),
            conditions=_conditions("The latest available observations of an object's current state."),
        ),
    },
    ("", "Namespace"): {
        "spec": _obj(
            "Spec defines the behavior of the Namespace.",
            finalizers=_list("Finalizers of the namespace.", {"type": "string"}),
        ),
        "status": _obj(
            "Status describes the current status of a Namespace.",
            phase=_s("The current lifecycle phase of the namespace: Active or Terminating."),
        ),
    },
}
TOP_LEVEL: dict[tuple[str, str], dict[str, Schema]] = {
    ("", "ConfigMap"): {
        "data": _map("Data contains the configuration data."),
        "binaryData": {
            "type": "object",
            "additionalProperties": {"type": "string", "format": "byte"},
            "description": "Binary data.",
        },
        "immutable": _b("If set to true, ensures that data stored in the ConfigMap cannot be updated."),
    },
    ("", "Secret"): {
        "data": {
            "type": "object",
            "additionalProperties": {"type": "string", "format": "byte"},
            "description": "The secret data, base64 encoded.",
        },
        "stringData": _map("Write-only convenience: non-binary secret data in string form."),
        "type": _s("Used to facilitate programmatic handling of secret data."),
        "immutable": _b("If set to true, ensures that data stored in the Secret cannot be updated."),
    },
}


def builtin_properties(group: str, kind: str) -> dict[str, Schema] | None:
    """The top-level properties (besides apiVersion, kind, metadata) of a built-in kind, if described."""
    if (group, kind) in SPEC_AND_STATUS:
        return dict(SPEC_AND_STATUS[(group, kind)])
    if (group, kind) in TOP_LEVEL:
        return dict(TOP_LEVEL[(group, kind)])
    return None
