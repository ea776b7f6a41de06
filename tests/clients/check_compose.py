#!/usr/bin/env python3
"""Checks what the compose stack needs beyond the schema, on the normalised file that
`docker-compose config` prints (read from stdin): the five services, each with an image or a build
whose Dockerfile exists, a healthcheck, published ports on loopback only, bind mounts that exist,
and a bastion that runs as an unprivileged user. Prints one line per problem; exits 1 if any.

usage: docker-compose -f docker-compose.yml config | check_compose.py REPO_ROOT
"""
import os
import sys

import yaml


def problems(doc, root):
    services = doc.get("services", {})
    for name in ("postgres", "bastion", "target", "prometheus", "grafana"):
        if name not in services:
            yield "service %s is missing" % name
    for name, svc in services.items():
        build = svc.get("build")
        if build:
            context = build["context"] if isinstance(build, dict) else build
            dockerfile = os.path.join(context, build.get("dockerfile", "Dockerfile")) \
                if isinstance(build, dict) else os.path.join(context, "Dockerfile")
            if not os.path.isfile(os.path.join(root, dockerfile)):
                yield "%s: no Dockerfile at %s" % (name, dockerfile)
        elif not svc.get("image"):
            yield "%s: neither image nor build" % name
        if "healthcheck" not in svc:
            yield "%s: no healthcheck" % name
        for port in svc.get("ports", []):
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            if host_ip != "127.0.0.1":
                yield "%s: port %s is published beyond loopback" % (name, port)
        for volume in svc.get("volumes", []):
            # "SOURCE:TARGET[:MODE]" as docker-compose prints it, or the long form
            source = volume.get("source", "") if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith("/") and not os.path.exists(source):
                yield "%s: bind mount %s does not exist" % (name, source)
    user = services.get("bastion", {}).get("user", "")
    if user in ("", "root", "0"):
        yield "bastion: runs as root (set user:)"


def main():
    found = list(problems(yaml.safe_load(sys.stdin), sys.argv[1]))
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
