"""Authentication as a real kube-apiserver does it: TLS-verified bearer tokens, ServiceAccount tokens
from TokenRequest (`kubectl create token`), 401 Status bodies, and impersonation (`kubectl --as`)."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes
import pytest
from apiserver_support import Http, Kubectl

from slipway_dev.apiserver import ApiServer, write_kubeconfig

UNAUTHORIZED = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "Unauthorized",
    "reason": "Unauthorized",
    "code": 401,
}


def _service_account(kubectl: Kubectl, name: str = "bot", namespace: str = "default") -> str:
    kubectl("create", "serviceaccount", name, "-n", namespace)
    return kubectl("create", "token", name, "-n", namespace).strip()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer a.b.c",  # the shape of a JWT, nothing more
        "Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA",  # a JWT header, an empty payload, a short signature
    ],
)
def test_requests_with_a_bad_token_get_the_real_401_status(http: Http, authorization: str) -> None:
    for path in ("/api/v1/namespaces", "/version", "/apis", "/api/v1/namespaces/default/configmaps/x"):
        answer = http.as_token(None)("GET", path, headers={"Authorization": authorization})
        assert (answer.status, answer.body) == (401, UNAUTHORIZED)
    # And the server keeps serving.
    assert http("GET", "/api/v1/namespaces").status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,  # no credentials at all
        "Bearer ",  # an empty token is no token
        "Basic YWRtaW46YWRtaW4=",  # basic auth is not a scheme the server reads: no credentials
    ],
)
def test_requests_without_a_token_are_anonymous_as_with_the_default_flags(
    http: Http, authorization: str | None
) -> None:
    """kube-apiserver's default --anonymous-auth=true (kubeadm keeps it): `system:anonymous` in group
    `system:unauthenticated`, which only system:public-info-viewer is bound to."""
    headers = {"Authorization": authorization} if authorization else {}
    anonymous = http.as_token(None)
    for path in ("/version", "/healthz", "/livez", "/readyz"):
        assert anonymous("GET", path, headers=headers).status == 200, path
    for path, message in (
        ("/api", 'forbidden: User "system:anonymous" cannot get path "/api"'),
        ("/apis", 'forbidden: User "system:anonymous" cannot get path "/apis"'),
        (
            "/api/v1/namespaces",
            'namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API '
            'group "" at the cluster scope',
        ),
        (
            "/api/v1/namespaces/default/configmaps/x",
            'configmaps "x" is forbidden: User "system:anonymous" cannot get resource "configmaps" in API '
            'group "" in the namespace "default"',
        ),
    ):
        answer = anonymous("GET", path, headers=headers)
        assert (answer.status, answer.body["reason"], answer.body["message"]) == (403, "Forbidden", message)
    review = anonymous(
        "POST",
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        headers=headers,
    )
    assert review.status == 403  # system:basic-user is for authenticated users only


def test_kubectl_create_token_gives_a_serviceaccount_identity(kubectl: Kubectl) -> None:
    token = _service_account(kubectl)
    assert token.count(".") == 2
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", f"--token={token}"))
    assert whoami["status"]["userInfo"]["username"] == "system:serviceaccount:default:bot"
    assert set(whoami["status"]["userInfo"]["groups"]) == {
        "system:serviceaccounts",
        "system:serviceaccounts:default",
        "system:authenticated",
    }
    # The admin is who the kubeconfig says, in system:masters.
    admin = json.loads(kubectl("auth", "whoami", "-o", "json"))["status"]["userInfo"]
    assert admin["username"] == "kubernetes-admin" and "system:masters" in admin["groups"]
    # A ServiceAccount with no bindings may read discovery and /version, and nothing else.
    assert json.loads(kubectl("get", "--raw", "/version", f"--token={token}"))["major"] == "1"
    denied = kubectl.run("get", "configmaps", f"--token={token}")
    assert denied.returncode != 0
    assert (
        'configmaps is forbidden: User "system:serviceaccount:default:bot" cannot list resource "configmaps" '
        'in API group "" in the namespace "default"'
    ) in denied.stderr


def test_a_token_dies_with_its_serviceaccount(kubectl: Kubectl, http: Http) -> None:
    token = _service_account(kubectl)
    as_bot = http.as_token(token)
    assert as_bot("GET", "/version").status == 200
    kubectl("delete", "serviceaccount", "bot")
    assert (as_bot("GET", "/version").status, as_bot("GET", "/version").body) == (401, UNAUTHORIZED)
    # A new ServiceAccount of the same name has another uid: the old token stays dead.
    kubectl("create", "serviceaccount", "bot")
    assert as_bot("GET", "/version").status == 401


def test_expired_and_foreign_audience_tokens_are_refused(
    apiserver: ApiServer, kubectl: Kubectl, http: Http
) -> None:
    kubectl("create", "serviceaccount", "bot")
    uid = http("GET", "/api/v1/namespaces/default/serviceaccounts/bot").body["metadata"]["uid"]
    expired = apiserver.authn.issue("default", "bot", uid, seconds=-1).token
    assert http.as_token(expired)("GET", "/version").body == UNAUTHORIZED
    # A token for another audience is not one for this API server.
    requested = http(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/bot/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"audiences": ["vault"]}},
    )
    assert requested.status == 201 and requested.body["spec"]["audiences"] == ["vault"]
    assert http.as_token(requested.body["status"]["token"])("GET", "/version").status == 401
    # A token signed by another server's key (another start) is refused too.
    other = ApiServer().authn.issue("default", "bot", uid).token
    assert http.as_token(other)("GET", "/version").status == 401
    # A tampered payload breaks the signature.
    good = kubectl("create", "token", "bot").strip()
    header, payload, signature = good.split(".")
    assert http.as_token(f"{header}.{payload[:-2]}xx.{signature}")("GET", "/version").status == 401
    assert http.as_token(good)("GET", "/version").status == 200


def test_token_requests_are_validated_like_a_real_server(kubectl: Kubectl, http: Http) -> None:
    short = kubectl.run("create", "token", "nobody")
    assert short.returncode != 0 and 'serviceaccounts "nobody" not found' in short.stderr
    kubectl("create", "serviceaccount", "bot")
    too_short = http(
        "POST",
        "/api/v1/namespaces/default/serviceaccounts/bot/token",
        {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "spec": {"expirationSeconds": 60}},
    )
    assert too_short.status == 422
    assert too_short.body["message"] == (
        'TokenRequest.authentication.k8s.io "bot" is invalid: spec.expirationSeconds: '
        "Invalid value: 60: may not specify a duration less than 10 minutes"
    )
    token = json.loads(kubectl("create", "token", "bot", "--duration=2h", "-o", "json"))
    assert token["kind"] == "TokenRequest" and token["status"]["token"]
    assert token["spec"]["expirationSeconds"] == 7200


def test_the_official_client_verifies_tls_and_sends_the_token(
    apiserver: ApiServer, kubectl: Kubectl, tmp_path: Path
) -> None:
    token = _service_account(kubectl)
    path = write_kubeconfig(tmp_path / "bot", apiserver.credentials(token))
    client = kubernetes.config.new_client_from_config(config_file=str(path))
    try:
        assert client.configuration.verify_ssl and client.configuration.ssl_ca_cert
        core = kubernetes.client.CoreV1Api(client)
        with pytest.raises(kubernetes.client.ApiException) as refused:
            core.list_namespaced_pod("default")
        assert refused.value.status == 403
        assert json.loads(refused.value.body)["reason"] == "Forbidden"
        kubectl("create", "rolebinding", "bot-view", "--clusterrole=view", "--serviceaccount=default:bot")
        assert core.list_namespaced_pod("default").items == []
    finally:
        client.close()
    # With a bad token the client sees 401.
    bad = kubernetes.config.new_client_from_config(
        config_file=str(write_kubeconfig(tmp_path / "bad", apiserver.credentials("wrong")))
    )
    try:
        with pytest.raises(kubernetes.client.ApiException) as unauthorized:
            kubernetes.client.CoreV1Api(bad).list_namespace()
        assert unauthorized.value.status == 401
    finally:
        bad.close()


def test_the_admin_may_impersonate_and_others_may_not(kubectl: Kubectl) -> None:
    token = _service_account(kubectl)
    as_bot = kubectl.run("get", "pods", "--as=system:serviceaccount:default:bot")
    assert as_bot.returncode != 0
    assert 'User "system:serviceaccount:default:bot" cannot list resource "pods"' in as_bot.stderr
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", "--as=alice", "--as-group=devs"))
    assert whoami["status"]["userInfo"]["username"] == "alice"
    assert whoami["status"]["userInfo"]["groups"] == ["devs", "system:authenticated"]
    refused = kubectl.run("get", "pods", "--as=alice", f"--token={token}")
    assert refused.returncode != 0
    assert (
        'users "alice" is forbidden: User "system:serviceaccount:default:bot" cannot impersonate resource '
        '"users" in API group "" at the cluster scope'
    ) in refused.stderr
    refused = kubectl.run("get", "pods", "--as=system:serviceaccount:default:other", f"--token={token}")
    assert (
        'serviceaccounts "other" is forbidden: User "system:serviceaccount:default:bot" cannot impersonate '
        'resource "serviceaccounts" in API group "" in the namespace "default"'
    ) in refused.stderr
    # Granted the impersonate verb on one user, the ServiceAccount may act as that user only.
    kubectl(
        "create", "clusterrole", "as-alice", "--verb=impersonate", "--resource=users", "--resource-name=alice"
    )
    kubectl(
        "create",
        "clusterrolebinding",
        "bot-as-alice",
        "--clusterrole=as-alice",
        "--serviceaccount=default:bot",
    )
    whoami = json.loads(kubectl("auth", "whoami", "-o", "json", "--as=alice", f"--token={token}"))
    assert whoami["status"]["userInfo"]["username"] == "alice"
    assert kubectl.run("auth", "whoami", "--as=bob", f"--token={token}").returncode != 0


def test_a_verified_token_is_cached_only_until_it_expires_and_while_its_account_lives() -> None:
    """The signature is checked once per token; the cache still refuses it from its expiry on, and as
    soon as its ServiceAccount is gone or made again with another uid."""
    from slipway_dev.apiserver.authn import Authenticator

    now = [1_000_000.0]
    authn = Authenticator(clock=lambda: now[0])
    accounts = {("default", "bot"): "uid-1"}

    def lookup(namespace: str, name: str) -> str | None:
        return accounts.get((namespace, name))

    token = authn.issue("default", "bot", "uid-1", seconds=600).token
    header = f"Bearer {token}"
    user = authn.authenticate(header, lookup)
    assert user is not None and user.name == "system:serviceaccount:default:bot"
    assert authn.authenticate(header, lookup) == user  # from the cache
    accounts[("default", "bot")] = "uid-2"  # deleted and made again
    assert authn.authenticate(header, lookup) is None
    accounts[("default", "bot")] = "uid-1"
    assert authn.authenticate(header, lookup) == user
    del accounts[("default", "bot")]
    assert authn.authenticate(header, lookup) is None
    accounts[("default", "bot")] = "uid-1"
    now[0] += 599
    assert authn.authenticate(header, lookup) == user
    now[0] += 1
    assert authn.authenticate(header, lookup) is None
