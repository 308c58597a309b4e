"""`slipway dev`: a local cluster (API server, simulated pods, gateway, Prometheus, Alertmanager) in the
foreground."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

STATE_DIR = Path(".slipway")


def register(app: typer.Typer) -> None:
    @app.command()
    def dev(
        port: Annotated[int, typer.Option(help="API server port on 127.0.0.1; 0 picks a free one.")] = 0,
        kubeconfig: Annotated[
            Path, typer.Option(help="Where to write the kubeconfig kubectl and the operator use.")
        ] = STATE_DIR / "kubeconfig",
        operator: Annotated[
            bool, typer.Option("--operator/--no-operator", help="Also run the Slipway operator.")
        ] = False,
        operator_config: Annotated[
            Path | None,
            typer.Option(
                help="A YAML file of operator config sections (e.g. notifications:) merged over the "
                "config the dev cluster writes to .slipway/operator.yaml, before the operator starts."
            ),
        ] = None,
        prometheus: Annotated[
            str, typer.Option(help="auto: run Prometheus when the binary is on PATH; on: require it; off.")
        ] = "auto",
        alertmanager: Annotated[
            str,
            typer.Option(
                help="auto: run Alertmanager beside Prometheus when the binary is on PATH; on; off."
            ),
        ] = "auto",
        rps: Annotated[
            float, typer.Option(help="Gateway requests per second for each Service or route clients call.")
        ] = 20.0,
        gateway_port: Annotated[
            int,
            typer.Option(
                help="Port of the gateway's front door on 127.0.0.1 (routes real requests by Host header "
                "and path); 0 picks a free one. Written to gateway-port beside the kubeconfig."
            ),
        ] = 0,
        load_variant: Annotated[
            list[str] | None,
            typer.Option(
                metavar="NAME,PERCENT[,...]",
                help="A share of the generated load that carries headers or cookies, as "
                "NAME,PERCENT[,header:NAME=VALUE|cookie:NAME=VALUE]... (e.g. "
                "testers,10,header:x-canary=true); repeatable.",
            ),
        ] = None,
        test_load: Annotated[
            list[str] | None,
            typer.Option(
                metavar="[NAMESPACE/]NAME",
                help="A Service no client calls that gets the generated load too, as testers would send "
                "it, as [NAMESPACE/]NAME (e.g. default/shop-canary, a blue-green's preview); repeatable. "
                "The load goes to the Services clients call: not to a Release's <name>-canary.",
            ),
        ] = None,
        scrape_interval: Annotated[
            str, typer.Option(help="How often Prometheus scrapes each pod (and evaluates rules, e.g. 5s).")
        ] = "1s",
        rule_interval: Annotated[
            str | None,
            typer.Option(help="How often Prometheus evaluates the alert rules (default: as it scrapes)."),
        ] = None,
        routing_crds: Annotated[
            bool,
            typer.Option(
                help="Serve the HTTPRoute and VirtualService CRDs (open schemas), as a cluster "
                "with Gateway API and Istio installed does."
            ),
        ] = True,
        fault_write_error_rate: Annotated[
            float, typer.Option(help="Share of API writes answered 500.")
        ] = 0.0,
        fault_write_conflict_rate: Annotated[
            float, typer.Option(help="Share of API writes answered 409.")
        ] = 0.0,
        fault_watch_drop_seconds: Annotated[
            float | None, typer.Option(help="End every watch stream after this many seconds.")
        ] = None,
        fault_watch_history: Annotated[
            int, typer.Option(help="Watch events kept for resuming; small values force 410 Gone.")
        ] = 10_000,
        fault_latency_ms: Annotated[float, typer.Option(help="Latency added to every API request.")] = 0.0,
        max_pods: Annotated[
            int | None,
            typer.Option(
                min=1,
                help="Pods the cluster runs at most (unset: the dev cluster's default, printed at start): "
                "a write declaring more (replicas, parallelism) is refused 403 like an exceeded quota.",
            ),
        ] = None,
    ) -> None:
        """Run the dev cluster until Ctrl-C (SIGINT) or SIGTERM, then stop everything it started."""
        from slipway.runtime.config import ConfigError
        from slipway_dev.apiserver.faults import FaultConfig
        from slipway_dev.cluster import DevCluster, PrometheusMode
        from slipway_dev.load import LoadMixError, LoadVariant, check_mix
        from slipway_dev.prometheus import ProcessStartError
        from slipway_dev.traffic import service_key

        modes: dict[str, PrometheusMode] = {"auto": "auto", "on": "on", "off": "off"}
        if prometheus not in modes:
            raise typer.BadParameter("must be auto, on or off", param_hint="--prometheus")
        if alertmanager not in modes:
            raise typer.BadParameter("must be auto, on or off", param_hint="--alertmanager")
        try:
            faults = FaultConfig(
                write_error_rate=fault_write_error_rate,
                write_conflict_rate=fault_write_conflict_rate,
                watch_drop_seconds=fault_watch_drop_seconds,
                watch_history_size=fault_watch_history,
                latency_ms=fault_latency_ms,
            )
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        try:
            load = [LoadVariant.parse(text) for text in load_variant or []]
            check_mix(load)
        except LoadMixError as error:
            raise typer.BadParameter(str(error), param_hint="--load-variant") from None
        try:
            tested = list(dict.fromkeys(service_key(text) for text in test_load or []))
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--test-load") from None
        stop = threading.Event()

        def request_stop(_signal: int, _frame: FrameType | None) -> None:
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, request_stop)
        cluster = DevCluster(
            port=port,
            state_dir=STATE_DIR,
            kubeconfig=kubeconfig,
            rps=rps,
            scrape_interval=scrape_interval,
            rule_interval=rule_interval,
            prometheus=modes[prometheus],
            alertmanager=modes[alertmanager],
            faults=faults,
            operator=operator,
            routing_crds=routing_crds,
            operator_config=operator_config,
            max_pods=max_pods,
            gateway_port=gateway_port,
            load=load,
            test_load=tested,
        )
        try:
            cluster.start()
        except (OSError, ProcessStartError, ConfigError) as error:
            typer.echo(f"slipway dev: cannot start: {error}", err=True)
            raise typer.Exit(1) from None
        try:
            typer.echo(f"API server:   {cluster.url}")
            typer.echo(
                f"kubeconfig:   {cluster.kubeconfig}   (export KUBECONFIG={cluster.kubeconfig.resolve()})"
            )
            typer.echo(f"Prometheus:   {cluster.prometheus_url or 'off'}")
            typer.echo(f"Alertmanager: {cluster.alertmanager_url or 'off'}")
            running = f"running (pid {cluster.operator_pid}), log {STATE_DIR / 'operator.log'}"
            typer.echo(f"operator:     {running if operator else 'off'}")
            typer.echo(
                f"config:       {cluster.operator_config}   (slipway run --config {cluster.operator_config})"
            )
            typer.echo(
                f"gateway:      {cluster.gateway_url}   (curl -H 'Host: NAME' {cluster.gateway_url}/; "
                f"port in {cluster.gateway_port_file})"
            )
            mix = "".join(f", {variant.percent:g} % {variant.name}" for variant in load)
            typer.echo(f"load:         {rps:g} requests/s per Service or route clients call{mix}")
            typer.echo(f"test load:    {', '.join(f'{n}/{s}' for n, s in tested) or 'none (--test-load)'}")
            typer.echo(f"pods:         at most {cluster.max_pods} (--max-pods)")
            typer.echo("ready; Ctrl-C to stop")
            stop.wait()
            typer.echo("stopping ...")
        finally:
            cluster.stop()
        typer.echo("stopped")
