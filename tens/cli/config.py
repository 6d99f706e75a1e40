"""`tens config show|path|init`."""

from __future__ import annotations

import argparse

from tens.cli.common import add_config, add_json, load_or_fail
from tens.cli.exitcodes import ExitCode
from tens.cli.output import emit_json, fail


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="show, locate or create the configuration file")
    verbs = p.add_subparsers(dest="config_verb", metavar="show|path|init", required=True)
    show = verbs.add_parser("show", help="the effective configuration (file + env + defaults)")
    add_json(show)
    add_config(show)
    path = verbs.add_parser("path", help="where the configuration file is read from")
    add_json(path)
    add_config(path)
    init = verbs.add_parser("init", help="write a commented starter config.toml")
    add_config(init)
    add_json(init)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tens.config import ConfigError, default_path, init_file

    if args.config_verb == "path":
        path = args.config or default_path()
        if args.json:
            emit_json({"path": str(path), "exists": path.exists()})
        else:
            print(path)
        return 0
    if args.config_verb == "init":
        try:
            path = init_file(args.config, force=args.force)
        except (ConfigError, OSError) as exc:
            return fail(str(exc), ExitCode.CONFIG, as_json=args.json)
        if args.json:
            emit_json({"path": str(path), "written": True})
        else:
            print(f"wrote {path}")
        return 0
    loaded = load_or_fail(args)
    if isinstance(loaded, int):
        return loaded
    data = loaded.config.model_dump(mode="json")
    night = loaded.config.quiet_hours.warning()
    if args.json:
        out = {"path": str(loaded.path), "config": data, "origins": loaded.origins}
        emit_json({**out, "warnings": [{"code": "night_use_on", "text": night}] if night else []})
        return 0
    import json

    if night:
        print(f"# WARNING: {night}")

    print(f"# from {loaded.path} (exists: {loaded.path.exists()}), environment and defaults")
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0
