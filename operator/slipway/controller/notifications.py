"""What a Release's subscribers are told, and when: after a status write that recorded a transition.

A transition is what one pass's status write recorded, compared with the status it read: the phase
entered and its reason (when either changed), the outcome of an attempt that finished (Promoted,
RolledBack, Aborted, Superseded), and the reasons of the Events the pass posted (WaitingForApproval,
Step, HookFailed, ...). A subscription (`spec.notify[i]`) names some of those in `on`; when one
matches, its notifier gets one message. The pass only queues it (`slipway.runtime.notifications`
delivers), so delivery never holds a rollout up.

The message's idempotency key is derived from the status write itself (the Release's uid, the
resourceVersion that write gave it, the subscription): the same on every retry, different for every
transition. A restarted operator reads the status the write left, so it sees no transition there and
sends nothing again.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import structlog

from slipway.api.models import ReleaseSpec
from slipway.api.status import ReleaseStatus
from slipway.core.actions import EmitEvent
from slipway.core.machine import Decision
from slipway.core.obstacles import Obstacle
from slipway.kube.client import ApiError, KubeApi
from slipway.kube.cluster import post_event
from slipway.manifests import GROUP, VERSION, ReleaseRef
from slipway.providers.base import render
from slipway.runtime.config import NotificationsConfig, NotifierConfig
from slipway.runtime.notifications import Notification, NotificationQueue

_log = structlog.get_logger("slipway.notifications")

NOTIFIER_NOT_CONFIGURED = "NotifierNotConfigured"
NOTIFICATION_FAILED = "NotificationFailed"
_SLACK_HEADER_LIMIT = 150


def obstacles(spec: ReleaseSpec, settings: NotificationsConfig) -> tuple[Obstacle, ...]:
    """Each subscription naming a notifier the operator config lacks."""
    known = ", ".join(settings.notifiers) or "none"
    return tuple(
        Obstacle(
            NOTIFIER_NOT_CONFIGURED,
            f"spec.notify[{index}].notifier",
            f"no notifier {subscription.notifier!r} in the operator config's notifications.notifiers "
            f"({known})",
        )
        for index, subscription in enumerate(spec.notify or [])
        if subscription.notifier not in settings.notifiers
    )


def transition_names(
    old: ReleaseStatus | None, new: ReleaseStatus, event_reasons: Iterable[str]
) -> tuple[str, ...]:
    """The names of what changed from `old` to `new` (a subscription's `on` matches them)."""
    names: list[str] = []
    if old is None or (old.phase, old.reason) != (new.phase, new.reason):
        names += [new.phase, new.reason]
    finished = {(entry.revision, entry.finished_at) for entry in old.history} if old else set()
    names += [entry.outcome for entry in new.history if (entry.revision, entry.finished_at) not in finished]
    names += event_reasons
    return tuple(dict.fromkeys(name for name in names if name))


@dataclass(frozen=True)
class Transition:
    """One status write that recorded a transition, and what a message about it says."""

    release: ReleaseRef
    generation: int
    status_version: str
    names: tuple[str, ...]
    before: ReleaseStatus | None
    after: ReleaseStatus
    version: str
    at: datetime

    def key(self, subscription: int) -> str:
        source = f"{self.release.uid}/{self.status_version}/{subscription}"
        return hashlib.sha256(source.encode()).hexdigest()[:32]


def version_of(status: ReleaseStatus, spec: ReleaseSpec) -> str:
    """The version a transition is about: the one being rolled out, else the one serving."""
    serving = status.canary or status.stable
    return serving.version if serving else spec.version


def link(notifier: NotifierConfig, transition: Transition) -> str | None:
    """The notifier's linkTemplate filled in (each value URL-escaped); None without a template."""
    if notifier.link_template is None:
        return None
    values = {
        "namespace": transition.release.namespace,
        "release": transition.release.name,
        "version": transition.version,
        "phase": transition.after.phase,
        "reason": transition.after.reason,
    }
    return render(notifier.link_template, values, lambda value: quote(value, safe=""))


def webhook_body(
    transition: Transition, notifier: str, on: tuple[str, ...], key: str, url: str | None
) -> dict[str, Any]:
    """The JSON a webhook notifier receives (docs/notifications.md)."""
    after, before = transition.after, transition.before
    body: dict[str, Any] = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ReleaseNotification",
        "idempotencyKey": key,
        "notifier": notifier,
        "on": list(on),
        "transitions": list(transition.names),
        "release": {
            "namespace": transition.release.namespace,
            "name": transition.release.name,
            "uid": transition.release.uid,
            "generation": transition.generation,
        },
        "version": transition.version,
        "phase": after.phase,
        "reason": after.reason,
        "message": after.message,
        "previous": {"phase": before.phase, "reason": before.reason} if before else None,
        "stableVersion": after.stable.version if after.stable else None,
        "at": transition.at.isoformat().replace("+00:00", "Z"),
    }
    if after.last_rollback is not None and "RolledBack" in transition.names:
        body["rollback"] = after.last_rollback.model_dump(mode="json", by_alias=True, exclude_none=True)
    if url is not None:
        body["link"] = url
    return body


def slack_body(transition: Transition, on: tuple[str, ...], url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message: a header, the facts as fields, the status message, the link."""
    release = f"{transition.release.namespace}/{transition.release.name}"
    after = transition.after
    headline = f"{release}: {', '.join(on)}"[:_SLACK_HEADER_LIMIT]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline}},
        {
            "type": "section",
            "fields": [
                _field("Release", release),
                _field("Version", transition.version),
                _field("Phase", after.phase),
                _field("Reason", after.reason or after.phase),
            ],
        },
    ]
    if after.message:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _escape(after.message)}})
    if url is not None:
        blocks.append(
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": url}],
            }
        )
    # `text` is what a notification (and a client without blocks) shows.
    return {"text": f"{headline}: version {transition.version}, {after.phase}", "blocks": blocks}


def _field(title: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": f"*{title}*\n{_escape(value)}"}


def _escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


Landed = Callable[[str], None]
"""Told, in the pass's worker thread, the resourceVersion of a status write the moment it landed."""


class Notifier:
    """Queues the messages a transition owes the Release's subscribers; a delivery that fails for
    good is a Warning Event on the Release (the metric is the queue's), never a rollout error."""

    def __init__(self, api: KubeApi, queue: NotificationQueue, settings: NotificationsConfig) -> None:
        self._api = api
        self._queue = queue
        self._settings = settings

    def landed(
        self,
        release: ReleaseRef,
        spec: ReleaseSpec,
        before: ReleaseStatus | None,
        decision: Decision,
        generation: int,
        at: datetime,
    ) -> Landed:
        """What to call once the status write of `decision` landed: from then on the transition is
        recorded, so it is told even if a later write of the pass (an Event) fails."""
        loop = asyncio.get_running_loop()
        events = [action.reason for action in decision.actions if isinstance(action, EmitEvent)]
        after = decision.status

        def landed(status_version: str) -> None:
            transition = Transition(
                release=release,
                generation=generation,
                status_version=status_version,
                names=transition_names(before, after, events),
                before=before,
                after=after,
                version=version_of(after, spec),
                at=at,
            )
            # The queue belongs to the event loop; the write landed in a worker thread.
            loop.call_soon_threadsafe(self.tell, spec, transition)

        return landed

    def tell(self, spec: ReleaseSpec, transition: Transition) -> int:
        """Queue a message for each subscription `transition` matches; how many were queued."""
        queued = 0
        for index, subscription in enumerate(spec.notify or []):
            on = tuple(name for name in subscription.on if name in transition.names)
            notifier = self._settings.notifiers.get(subscription.notifier)
            if not on or notifier is None:
                continue
            key = transition.key(index)
            url = link(notifier, transition)
            body = (
                slack_body(transition, on, url)
                if notifier.type == "slack"
                else webhook_body(transition, subscription.notifier, on, key, url)
            )
            failed = _reporter(self._api, transition.release, subscription.notifier, on)
            queued += self._queue.offer(Notification(subscription.notifier, notifier, key, body, failed))
        return queued


def _reporter(
    api: KubeApi, release: ReleaseRef, notifier: str, on: tuple[str, ...]
) -> Callable[[str], Awaitable[None]]:
    async def failed(reason: str) -> None:
        message = (
            f"notifier {notifier} was not told of {', '.join(on)}: {reason}; the rollout is not affected"
        )
        try:
            await asyncio.to_thread(post_event, api, release, "Warning", NOTIFICATION_FAILED, message)
        except ApiError as error:
            _log.warning("could not post an Event", error=str(error), reason=NOTIFICATION_FAILED)

    return failed
