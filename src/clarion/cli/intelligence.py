"""``clarion intel rfm|clusters|basket|recommend|send-time|churn|budget|influence|all``.

Each command runs its model on the workspace, stores the traits (with the run as provenance)
and prints the run: its evaluation (``metrics``), what it found (``output``) and timings.
``runs``, ``rules`` and ``recs`` read what earlier runs stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import typer

from clarion.cli.common import WorkspaceOpt, cli_actor, engine, handle_errors, print_json
from clarion.errors import ValidationFailed

intel_app = typer.Typer(
    help="Intelligence: RFM, clusters, basket rules, recommendations, send time, churn, "
    "budget, influence.",
    no_args_is_help=True,
)

AsOfOpt = typer.Option(None, "--as-of", help="compute as of this ISO time (default: now)")
WindowOpt = typer.Option(None, "--window-days", help="only data of the last N days")


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("--as-of is an ISO time", field="as_of", value=value) from None
    if t.tzinfo is None:
        raise ValidationFailed("--as-of needs a UTC offset", field="as_of", value=value)
    return t


def _run(workspace: str, model: str, **params: Any) -> None:
    from clarion.intelligence import service, template_helpers

    eng = engine()
    template_helpers.install(eng)
    actor = cli_actor(eng, workspace)
    clean = {k: v for k, v in params.items() if v is not None}
    print_json(service.run(eng, actor, model, **clean))


@intel_app.command("rfm")
@handle_errors
def rfm_cmd(
    as_of: str = AsOfOpt,
    window_days: int = WindowOpt,
    horizon_days: int = typer.Option(90, help="evaluation: repurchase within N days"),
    workspace: str = WorkspaceOpt,
) -> None:
    """RFM quintiles and groups (rfm_r, rfm_f, rfm_m, rfm_group)."""
    _run(workspace, "rfm", as_of=_as_of(as_of), window_days=window_days, horizon_days=horizon_days)


@intel_app.command("clusters")
@handle_errors
def clusters_cmd(
    as_of: str = AsOfOpt,
    window_days: int = typer.Option(730, "--window-days"),
    k_min: int = typer.Option(2, "--k-min"),
    k_max: int = typer.Option(8, "--k-max"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Behaviour clusters, k chosen by silhouette (cluster, cluster_label)."""
    _run(
        workspace,
        "clusters",
        as_of=_as_of(as_of),
        window_days=window_days,
        k_min=k_min,
        k_max=k_max,
    )


@intel_app.command("basket")
@handle_errors
def basket_cmd(
    as_of: str = AsOfOpt,
    window_days: int = typer.Option(365, "--window-days"),
    min_support: float = typer.Option(0.0005, "--min-support"),
    min_orders: int = typer.Option(5, "--min-orders"),
    min_confidence: float = typer.Option(0.05, "--min-confidence"),
    min_lift: float = typer.Option(1.2, "--min-lift"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Mine "bought together" rules (browse them with ``clarion intel rules``)."""
    _run(
        workspace,
        "basket",
        as_of=_as_of(as_of),
        window_days=window_days,
        min_support=min_support,
        min_orders=min_orders,
        min_confidence=min_confidence,
        min_lift=min_lift,
    )


@intel_app.command("recommend")
@handle_errors
def recommend_cmd(
    as_of: str = AsOfOpt,
    window_days: int = typer.Option(365, "--window-days"),
    n: int = typer.Option(10, "--n", help="products stored per contact"),
    factors: int = typer.Option(32, "--factors"),
    repeat: bool = typer.Option(False, "--repeat", help="may recommend products bought before"),
    test_days: int = typer.Option(30, "--test-days"),
    workspace: str = WorkspaceOpt,
) -> None:
    """ALS recommendations per contact, precision@k/recall@k on a time split."""
    _run(
        workspace,
        "recommend",
        as_of=_as_of(as_of),
        window_days=window_days,
        n=n,
        factors=factors,
        repeat=repeat,
        test_days=test_days,
    )


@intel_app.command("send-time")
@handle_errors
def send_time_cmd(
    as_of: str = AsOfOpt,
    window_days: int = typer.Option(365, "--window-days"),
    segment_trait: str = typer.Option("rfm_group", "--segment-trait"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Best local send hour per contact (best_hour), shrunk towards the segment's pattern."""
    _run(
        workspace,
        "send_time",
        as_of=_as_of(as_of),
        window_days=window_days,
        segment_trait=segment_trait or None,
    )


@intel_app.command("churn")
@handle_errors
def churn_cmd(
    as_of: str = AsOfOpt,
    horizon_days: int = typer.Option(90, "--horizon-days"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Calibrated churn risk (churn_risk), AUC/Brier on a time split, importances."""
    _run(workspace, "churn", as_of=_as_of(as_of), horizon_days=horizon_days)


@intel_app.command("influence")
@handle_errors
def influence_cmd(
    as_of: str = AsOfOpt,
    test_days: int = typer.Option(90, "--test-days"),
    workspace: str = WorkspaceOpt,
) -> None:
    """PageRank on mentions, shares and referrals (influence_pagerank, influence_reach)."""
    _run(workspace, "influence", as_of=_as_of(as_of), test_days=test_days)


def _channels(specs: list[str]) -> dict[str, dict[str, float]]:
    """Parse ``sms:cost=0.04,factor=1`` specs."""
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        name, _, rest = spec.partition(":")
        cfg: dict[str, float] = {}
        for part in filter(None, rest.split(",")):
            key, _, value = part.partition("=")
            try:
                cfg[key.strip()] = float(value)
            except ValueError:
                raise ValidationFailed(
                    "a channel is name:cost=X[,factor=Y]", field="channel", value=spec
                ) from None
        out[name.strip()] = cfg
    return out


@intel_app.command("budget")
@handle_errors
def budget_cmd(
    budget: float = typer.Option(..., "--budget", help="money to spend"),
    channel: list[str] = typer.Option(
        ["sms:cost=0.04,factor=1", "email:cost=0.002,factor=0.3"],
        "--channel",
        help="name:cost=X,factor=Y (repeatable)",
    ),
    max_share: list[str] = typer.Option([], "--max-share", help="channel=share, e.g. sms=0.7"),
    problem: str = typer.Option(None, "--problem", help="a JSON problem file: solve only"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Split a budget over RFM groups x channels: exact (LP/MILP) vs evolutionary search."""
    if problem:
        from pathlib import Path

        from clarion.intelligence.budget import Problem, allocate

        doc = orjson.loads(Path(problem).read_bytes())
        doc.setdefault("budget", budget)
        print_json(allocate(Problem.model_validate(doc)))
        return
    shares = {}
    for s in max_share:
        ch, _, v = s.partition("=")
        try:
            shares[ch] = float(v)
        except ValueError:
            raise ValidationFailed(
                "--max-share is channel=share", field="max_share", value=s
            ) from None
    _run(
        workspace,
        "budget",
        budget=budget,
        channels=_channels(channel),
        channel_max_share=shares,
    )


@intel_app.command("all")
@handle_errors
def all_cmd(as_of: str = AsOfOpt, workspace: str = WorkspaceOpt) -> None:
    """Run every model but the budget, in dependency order; print each run's evaluation."""
    from clarion.intelligence import service

    eng = engine()
    actor = cli_actor(eng, workspace)
    when = _as_of(as_of)
    params = {m: ({"as_of": when} if when else {}) for m in service.ALL}
    runs = service.run_all(eng, actor, params=params)
    print_json([{k: r[k] for k in ("id", "model", "metrics", "seconds")} for r in runs])


@intel_app.command("runs")
@handle_errors
def runs_cmd(
    model: str = typer.Option(None, "--model"),
    run_id: int = typer.Option(None, "--id", help="show one run in full"),
    workspace: str = WorkspaceOpt,
) -> None:
    """List model runs (newest first), or show one."""
    from clarion.intelligence import runs

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        if run_id is not None:
            print_json(runs.get_run(conn, actor.workspace_id, run_id))
        else:
            print_json(runs.list_runs(conn, actor.workspace_id, model))


@intel_app.command("rules")
@handle_errors
def rules_cmd(
    sku: str = typer.Option(None, "--sku", help="rules starting from this product"),
    limit: int = typer.Option(20, "--limit"),
    min_lift: float = typer.Option(0.0, "--min-lift"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Browse basket rules: people who buy X also buy Y (best lift first)."""
    from clarion.intelligence import basket

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(
            basket.rules_for(conn, actor.workspace_id, sku=sku, limit=limit, min_lift=min_lift)
        )


@intel_app.command("recs")
@handle_errors
def recs_cmd(
    contact_id: list[int] = typer.Argument(..., help="contact id(s)"),
    n: int = typer.Option(3, "--n"),
    workspace: str = WorkspaceOpt,
) -> None:
    """Show the stored recommendations of contacts."""
    from clarion.intelligence.recommend import Server

    eng = engine()
    actor = cli_actor(eng, workspace)
    with eng.connect() as conn:
        print_json(Server(conn, actor.workspace_id).for_contacts(list(contact_id), n))


def register(app: typer.Typer) -> None:
    app.add_typer(intel_app, name="intel")
