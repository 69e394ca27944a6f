# The reference for the Go reader: supervisor's own code (the installed
# supervisor, 4.2.5 on Debian 12) and Python's. Reads JSON requests on stdin,
# one per line, and answers each with one JSON line:
#   {"config": PATH}                -> what ServerOptions.read_config makes of
#                                      each process, or {"error": ...}
#   {"expand": S, "names": {...}}   -> S % names
#   {"env": S}                      -> datatypes.dict_of_key_value_pairs(S)
#   {"split": S}                    -> shlex.split(S)
#   {"ini": TEXT}                   -> the sections and options
#                                      UnhosedConfigParser reads from TEXT
# Host checks that do not concern the format (users and log directories
# exist) are switched off.
import io
import json
import os
import shlex
import sys
import tempfile

import supervisor.datatypes as dt
import supervisor.options as so

so.name_to_uid = lambda name: name
dt.existing_dirpath = lambda v: v
so.existing_dirpath = lambda v: v
so.existing_directory = lambda v: v


def config(path):
    path = os.path.abspath(path)
    with open(path) as f:
        text = f.read()
    main_file, tmp = path, None
    if "[supervisord]" not in text:
        # a conf.d file: read it as a supervisord.conf would include it
        tmp = tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False)
        tmp.write("[supervisord]\n[include]\nfiles = %s\n" % path)
        tmp.close()
        main_file = tmp.name
    opts = so.ServerOptions()
    opts.configfile = main_file
    opts.here = os.path.dirname(main_file)
    try:
        section = opts.read_config(main_file)
    finally:
        if tmp:
            os.unlink(tmp.name)
    procs = []
    for group in section.process_group_configs:
        if type(group).__name__ != "ProcessGroupConfig":
            continue
        for p in group.process_configs:
            ar = p.autorestart
            ar = "false" if ar is False else ("true" if ar.__name__ == "RestartUnconditionally" else "unexpected")
            procs.append({
                "name": p.name, "command": p.command, "directory": p.directory,
                "environment": sorted(p.environment.items()), "priority": p.priority,
                "autostart": p.autostart, "autorestart": ar, "startsecs": p.startsecs,
                "startretries": p.startretries, "stopsignal": p.stopsignal,
                "stopwaitsecs": p.stopwaitsecs, "stopasgroup": p.stopasgroup,
                "killasgroup": p.killasgroup, "exitcodes": p.exitcodes,
                "redirect_stderr": p.redirect_stderr, "user": p.uid,
            })
    return {"processes": sorted(procs, key=lambda p: p["name"])}


def ini(text):
    parser = so.UnhosedConfigParser()
    parser.read_string(text)
    out = {s: [[k, v] for k, v in parser.items(s)] for s in parser.sections()}
    return {"sections": out, "order": parser.sections()}


def answer(req):
    try:
        if "config" in req:
            return config(req["config"])
        if "expand" in req:
            return {"value": req["expand"] % req["names"]}
        if "env" in req:
            return {"value": list(dt.dict_of_key_value_pairs(req["env"]).items())}
        if "split" in req:
            return {"value": shlex.split(req["split"])}
        if "ini" in req:
            return ini(req["ini"])
    except Exception as e:
        return {"error": "%s: %s" % (type(e).__name__, e)}
    return {"error": "unknown request"}


for line in sys.stdin:
    print(json.dumps(answer(json.loads(line))), flush=True)
