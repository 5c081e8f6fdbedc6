"""`karpa predict ...` and `karpa models history NAME`: the champion models from a shell."""

from __future__ import annotations

import argparse
import json

from karpa.scoring import NAMES


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from karpa.home import activate
    from karpa.scoring import user_history
    from karpa.tracking.registry import Registry, explaining_predictor, load_predictor

    home = activate(args.home)
    registry = Registry(home.tracking_uri, home.root / "audit.jsonl")
    name = NAMES[args.application]
    version = registry.alias_version(name, args.alias)
    if version is None:
        from karpa.errors import KarpaError

        raise KarpaError(
            f"{name} has no version with alias {args.alias!r} yet: "
            f"run the pipeline first (karpa run)"
        )
    uri = registry.model_uri(name, args.alias)
    if args.explain:
        predict = explaining_predictor(home.tracking_uri, uri)
        if predict is None:
            from karpa.errors import KarpaError

            raise KarpaError(
                f"{name} v{version} (@{args.alias}) cannot explain its predictions: it was "
                "registered before karpa's models could; retrain to register one that can"
            )
    else:
        predict = load_predictor(home.tracking_uri, uri)
    if args.application == "recommend":
        from karpa.errors import KarpaError
        from karpa.scoring import latest_views

        try:
            history = user_history(home.store, args.input)
        except KarpaError:
            if latest_views(home.store) is None:
                raise
            history = []  # an unknown user: the model answers with its popularity fallback
        out = predict(pd.DataFrame({"history": [history], "k": [args.k]}))
        result = {
            "user": args.input,
            "history_tail": history[-5:],
            "items": list(out["items"][0]),
            "scores": list(out["scores"][0]),
        }
        if "source" in out:  # "model", or why the popularity fallback answered
            result["source"] = str(out["source"][0])
        if "explanation" in out:
            result["explanation"] = _with_features(home.store, out["explanation"][0])
    else:
        out = predict(pd.DataFrame({"text": [args.input]}))
        result = out.iloc[0].to_dict()
        result["text"] = args.input
    result["model"] = f"{name} v{version} (@{args.alias})"
    print(json.dumps(result, indent=2, default=lambda v: v.item() if hasattr(v, "item") else v))
    return 0


def _with_features(store, explained: list[dict]) -> list[dict]:
    """Each recommended item's explanation with its content features (title, category,
    attributes) and `shared_features`: those it shares with the history items that
    contributed to it (positive leave-one-out contribution), most contributing first."""
    from karpa.scoring import item_features

    ids = [e["item"] for e in explained] + [h["item"] for e in explained for h in e["history"]]
    features = item_features(store, ids)
    out = []
    for e in explained:
        own = features.get(e["item"], {})
        shared: dict[str, str] = {}
        for h in e["history"]:
            if h["contribution"] <= 0:
                continue
            for key, value in features.get(h["item"], {}).items():
                if key != "title" and own.get(key) == value:
                    shared.setdefault(key, value)
        history = [
            {**h, "title": features.get(h["item"], {}).get("title", "")} for h in e["history"]
        ]
        out.append({**e, "history": history, "features": own, "shared_features": shared})
    return out


def _history(args: argparse.Namespace) -> int:
    from karpa.home import resolve_home
    from karpa.tracking.registry import history

    home = resolve_home(args.home)
    rows = history(home.root / "audit.jsonl", args.name)
    if not rows:
        print(f"{args.name}: no versions or decisions recorded in {home.root / 'audit.jsonl'}")
        return 0
    for r in rows:
        if r["event"] == "alias":
            was = f" (was v{r['previous']})" if r.get("previous") else ""
            print(f"{r['at']}  @{r['alias']:<10} -> v{r['version']}{was}: {r['reason']}")
        else:
            verdict = "PROMOTED" if r["promoted"] else "refused "
            print(f"{r['at']}  v{r['version']:<3} {verdict} {r['reason']}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    predict = sub.add_parser("predict", help="answer from a registered model (the champion)")
    predict.add_argument("application", choices=sorted(NAMES))
    predict.add_argument("input", help="a text (intent, sentiment) or a user id (recommend)")
    predict.add_argument("--alias", default="champion", help="champion (default) or challenger")
    predict.add_argument("-k", type=int, default=10, help="recommend: how many items")
    predict.add_argument(
        "--explain",
        action="store_true",
        help="also say why: the words that drove a text's label and the nearest labeled "
        "training examples; for recommend, the history items and score parts per item",
    )
    predict.set_defaults(func=_predict)

    models = sub.add_parser("models", help="the model registry")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    hist = models_sub.add_parser("history", help="which version held which alias, when, why")
    hist.add_argument("name", help="e.g. karpa-intent, karpa-recommender, karpa-foundation")
    hist.set_defaults(func=_history)
