"""`kubectl slipway dashboard` in a real browser: headless Chromium (Debian's chromium and
chromium-driver, driven by selenium) watches a canary on a dev cluster with the operator running.

The page sees the canary's weight, promotes it with its own button and sees the weight move on and the
analysis measurements plotted against their threshold, aborts it and sees the rollback reported; then a
version whose analysis fails is rolled back by the operator, and the page retries it. The
dashboard runs as a user granted only DASHBOARD_RULES, as the docs tell an admin to grant. Screenshots
of each stage are kept in .slipway/artifacts/dashboard/ (docs/kubectl-plugin.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from e2e_support import ROOT, job_metric, operator_identity, release_manifest, wait_for, wait_release_phase
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from slipway.cli._plugin_dashboard.server import DASHBOARD_RULES
from slipway.rbac import Rule
from slipway_dev.cluster import DevCluster

pytestmark = [pytest.mark.e2e, pytest.mark.dev_cluster(operator=True)]

ARTIFACTS = ROOT / ".slipway" / "artifacts" / "dashboard"
PAGE_SECONDS = 30
"""The longest any one change may take to show on the page (the operator's pass, the watch, a draw)."""
STEPS = [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"analysis": {"successfulMeasurements": 2}}]
STEPS.append({"pause": {}})


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        message = "Debian's chromium and chromium-driver are not installed (make system-deps installs them)"
        if os.geteuid() != 0:
            pytest.skip(message)
        pytest.fail(message)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1300,1000"):
        options.add_argument(argument)
    # The driver named outright: selenium would otherwise look for one to download (no internet here).
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    yield chrome
    chrome.quit()


def user_kubeconfig(cluster: DevCluster, path: Path, rules: Iterable[Rule], user: str) -> Path:
    """A person (ServiceAccount `user`) granted only `rules` in `default`, by a Role."""
    meta = {"name": user, "namespace": "default"}
    rbac = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [
                {"apiGroups": [r.group], "resources": [r.resource], "verbs": list(r.verbs)} for r in rules
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": user},
            "subjects": [{"kind": "ServiceAccount", **meta}],
        },
    ]
    return operator_identity(cluster, path, rbac, namespace="default")


@contextmanager
def dashboard(cluster: DevCluster, tmp_path: Path, rules: Iterable[Rule], user: str) -> Iterator[str]:
    """`kubectl slipway dashboard --port 0` as `user`; the URL it prints. It must stop on SIGTERM."""
    env = {
        **os.environ,
        "KUBECONFIG": str(user_kubeconfig(cluster, tmp_path / f"{user}.kubeconfig", rules, user)),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = tmp_path / f"dashboard-{user}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["kubectl", "slipway", "dashboard", "--port", "0"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def printed() -> str | None:
            found = re.search(r"http://127\.0\.0\.1:\d+/\?token=\S+", log.read_text())
            assert process.poll() is None, log.read_text()
            return found.group(0) if found else None

        yield wait_for(printed, 20, "the dashboard to print its URL")
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=10) == 0, log.read_text()
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def dashboard_url(dev_cluster: DevCluster, tmp_path: Path) -> Iterator[str]:
    """The dashboard as a user granted exactly DASHBOARD_RULES, as the docs tell an admin to grant."""
    with dashboard(dev_cluster, tmp_path, DASHBOARD_RULES, "alice") as url:
        yield url


def card(driver: WebDriver) -> dict[str, str]:
    """What the page shows of Release web: its phase, canary weight and texts, as a user reads them."""
    section = driver.find_element(By.CSS_SELECTOR, 'section.release[data-name="web"]')
    return {
        "phase": section.get_attribute("data-phase") or "",
        "canary": section.get_attribute("data-canary-weight") or "",
        "text": section.text,
    }


def see(driver: WebDriver, what: str, condition: Callable[[dict[str, str]], bool], shot: str = "") -> None:
    """Wait until the page shows `condition` (a screenshot either way when `shot` names one)."""
    seen: list[dict[str, str]] = [{}]

    def shows(d: WebDriver) -> bool:
        seen[0] = card(d)
        return condition(seen[0])

    waiting = WebDriverWait(driver, PAGE_SECONDS, 0.2, ignored_exceptions=(StaleElementReferenceException,))
    try:
        waiting.until(shows, f"the page to show {what}")
    except Exception:
        driver.save_screenshot(str(ARTIFACTS / f"failed-{shot or 'page'}.png"))
        raise AssertionError(f"the page never showed {what}; it showed {seen[0]}") from None
    if shot:
        driver.save_screenshot(str(ARTIFACTS / f"{shot}.png"))


def click(driver: WebDriver, action: str) -> None:
    """Press Release web's `action` button once it is enabled (the board is redrawn under the pointer,
    so an element found just before a redraw is looked up again; a click that happened never is)."""

    def pressed(d: WebDriver) -> bool:
        button = d.find_element(By.CSS_SELECTOR, f'section[data-name="web"] button[data-action="{action}"]')
        if not button.is_enabled():
            return False
        button.click()
        return True

    WebDriverWait(driver, PAGE_SECONDS, 0.2, ignored_exceptions=(StaleElementReferenceException,)).until(
        pressed, f"the {action} button to be enabled"
    )
    WebDriverWait(driver, PAGE_SECONDS, 0.2).until(
        lambda d: f"{action} requested" in d.find_element(By.ID, "notice").text,
        f"the page to say {action} was requested",
    )


def points(driver: WebDriver, metric: str) -> int:
    plots = driver.find_elements(
        By.CSS_SELECTOR, f'section[data-name="web"] svg.plot[data-metric="{metric}"]'
    )
    return int(plots[0].get_attribute("data-points") or 0) if plots else 0


def failed_points(driver: WebDriver, metric: str) -> int:
    selector = f'section[data-name="web"] svg.plot[data-metric="{metric}"] circle.failed'
    return len(driver.find_elements(By.CSS_SELECTOR, selector))


def status(cluster: DevCluster) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(cluster.kubectl("get", "release", "web", "-o", "json").stdout)[
        "status"
    ]
    return found


def test_the_page_follows_a_canary_and_its_buttons_promote_and_abort_it(
    dev_cluster: DevCluster, dashboard_url: str, browser: WebDriver
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    release = release_manifest("1", steps=STEPS, metrics=[job_metric(exit_code=0)])
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(release))
    wait_release_phase(dev_cluster, "Healthy", "1")

    browser.get(dashboard_url)
    see(
        browser,
        "web Healthy on 1",
        lambda c: c["phase"] == "Healthy" and "stable 1 100%" in c["text"],
        "1-healthy",
    )

    dev_cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=json.dumps(release_manifest("2", steps=STEPS, metrics=[job_metric(exit_code=0)])),
    )
    see(
        browser,
        "the canary at 25% paused at step 2",
        lambda c: c["canary"] == "25" and c["phase"] == "Paused" and "step 2/5" in c["text"],
        "2-canary-25",
    )

    click(browser, "promote")
    see(browser, "the canary at 50%", lambda c: c["canary"] == "50")
    see(
        browser,
        "the analysis gate passed, paused at step 5",
        lambda c: c["phase"] == "Paused" and "step 5/5" in c["text"] and points(browser, "smoke") >= 2,
        "3-promoted-50-analysed",
    )
    assert "good >= 1" in card(browser)["text"]  # the job metric's threshold, beside its plot

    click(browser, "abort")
    see(
        browser,
        "the rollback reported",
        lambda c: c["phase"] == "Degraded" and "rolled back 2 -> 1: Aborted" in c["text"],
        "4-rolled-back",
    )

    # A version whose smoke test fails: the analysis rolls it back, the failed measurement plotted red.
    failing = release_manifest(
        "3",
        steps=[{"setWeight": 25}, {"analysis": {"successfulMeasurements": 2}}],
        metrics=[job_metric(exit_code=1, name="broken")],
    )
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(failing))
    see(
        browser,
        "the failed analysis reported",
        lambda c: (
            c["phase"] == "Degraded"
            and "rolled back 3 -> 1: AnalysisFailed (metric broken = 0, threshold >= 1)" in c["text"]
            and failed_points(browser, "broken") >= 1
        ),
        "5-analysis-failed",
    )
    click(browser, "retry")
    see(browser, "the retry carried out", lambda c: "last request: retry" in c["text"])
    assert not browser.find_elements(By.CSS_SELECTOR, ".problem")  # every watch allowed to the user
    carried_out = {record["action"] for record in status(dev_cluster)["manualActions"]}
    assert carried_out == {"promote", "abort", "retry"}


@pytest.mark.dev_cluster(operator=False)
def test_the_dashboard_needs_its_token_says_which_read_it_is_refused_and_approves_as_the_user(
    dev_cluster: DevCluster, tmp_path: Path
) -> None:
    gated = release_manifest("1")
    gated["spec"]["promotion"] = {"from": {"namespace": "staging"}, "approval": "manual"}
    dev_cluster.kubectl("apply", "-f", "-", input=json.dumps(gated))
    no_events = [rule for rule in DASHBOARD_RULES if rule.resource != "events"]
    with dashboard(dev_cluster, tmp_path, no_events, "bob") as url:
        base = url.split("?")[0]
        for refused_url in (base, url.replace("token=", "token=wrong")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(refused_url, timeout=10)
            assert refused.value.code == 403
        # A form on another site can put the token in the query only: a button's request needs the header.
        action = url.replace("/?", "/api/releases/default/web/abort?")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(action, method="POST"), timeout=10)
        assert refused.value.code == 403
        with urllib.request.urlopen(url, timeout=10) as page:
            assert "<title>Slipway dashboard</title>" in page.read().decode()

        # Bob may not read Events: the page says so, and shows the Release all the same.
        wanted = "cannot watch Events in namespace default: 403 Forbidden"
        with urllib.request.urlopen(url.replace("/?", "/events?"), timeout=PAGE_SECONDS) as stream:
            drawings = (
                json.loads(line[len(b"data: ") :])["html"] for line in stream if line.startswith(b"data: ")
            )
            drawing = next(d for d in drawings if wanted in d)
        token = url.split("token=")[1]
        # A button judges before it sends, as the command does: promote with no rollout sends nothing.
        promote = url.split("?")[0] + "api/releases/default/web/promote"
        noop = urllib.request.Request(promote, method="POST", headers={"X-Slipway-Token": token})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(noop, timeout=10)
        assert refused.value.code == 409
        assert (
            "promote would change nothing (no rollout in progress), not sent"
            in json.loads(refused.value.read())["error"]
        )
        # The approve button's request, as the page's script sends it: the plugin's value, naming bob.
        approve = url.split("?")[0] + "api/releases/default/web/approve"
        sent = urllib.request.Request(approve, method="POST", headers={"X-Slipway-Token": token})
        with urllib.request.urlopen(sent, timeout=10) as answer:
            assert (
                "approve requested (annotation slipway.dev/approve=1 by "
                in json.loads(answer.read())["message"]
            )
        # A button the page drew enabled before a change is judged again, as the command judges it:
        # retry of a Release that is not Degraded would change nothing, so nothing is sent.
        retry = urllib.request.Request(
            approve.replace("/approve", "/retry"), method="POST", headers={"X-Slipway-Token": token}
        )
        with pytest.raises(urllib.error.HTTPError) as noop:
            urllib.request.urlopen(retry, timeout=10)
        assert noop.value.code == 409
        said = "release default/web: retry would change nothing (the release is not Degraded), not sent"
        assert json.loads(noop.value.read())["error"] == said
    assert 'data-name="web"' in drawing and "no status yet" in drawing
    meta = json.loads(dev_cluster.kubectl("get", "release", "web", "-o", "json").stdout)["metadata"]
    assert "slipway.dev/promote" not in meta["annotations"]
    assert meta["annotations"]["slipway.dev/approve"].startswith("1 by system:serviceaccount:default:bob at ")
    assert "slipway.dev/retry" not in meta["annotations"]
