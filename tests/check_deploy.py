#!/usr/bin/python3
"""check_deploy.py — the deploy/ files agree with each other and with the
programs: every YAML file parses; the Kubernetes manifests are well formed
and cross-reference correctly (selectors, probes, ports, ConfigMap and
Secret names, the HPA's target, the relay as one Recreate replica); the
compose file's services, dependencies, volumes and build context exist;
the Dockerfile is multi-stage on Debian 12 and ends as a non-root user;
the alert rules and the Grafana dashboard name only metrics the sources
emit; and every PROXIMITY_* name in deploy/ is an option of proximityd or
proximity-cdc (their --help output, passed as files).

usage: check_deploy.py SRCDIR PROXIMITYD_HELP RELAY_HELP
Prints one line per check; exits 1 if any failed.
"""
import glob
import json
import os
import re
import sys

import yaml

srcdir, help_d, help_r = sys.argv[1:4]
deploy = os.path.join(srcdir, "deploy")
failures = 0


def check(ok, what):
    global failures
    print(("ok: " if ok else "FAIL: ") + what)
    if not ok:
        failures += 1
    return ok


def rel(p):
    return os.path.relpath(p, srcdir)


# ---- every YAML file parses ---------------------------------------------
docs = {}
for path in sorted(glob.glob(os.path.join(deploy, "**", "*.y*ml"), recursive=True)):
    try:
        with open(path) as f:
            docs[path] = [d for d in yaml.safe_load_all(f) if d is not None]
        check(True, f"{rel(path)} parses ({len(docs[path])} documents)")
    except yaml.YAMLError as e:
        check(False, f"{rel(path)} parses: {e}")

# ---- Kubernetes ----------------------------------------------------------
k8s = []
for path in glob.glob(os.path.join(deploy, "k8s", "*.yaml")):
    for d in docs.get(path, []):
        k8s.append((rel(path), d))
by_kind = {}
for where, d in k8s:
    ok = isinstance(d, dict) and all(k in d for k in ("apiVersion", "kind")) and (
        d["kind"] == "Kustomization" or d.get("metadata", {}).get("name"))
    check(ok, f"{where}: {d.get('kind')} {d.get('metadata', {}).get('name', '')} has apiVersion, kind, metadata.name")
    by_kind.setdefault(d.get("kind"), {})[d.get("metadata", {}).get("name")] = d

kust = next((d for _, d in k8s if d.get("kind") == "Kustomization"), None)
if check(kust is not None, "k8s/kustomization.yaml exists"):
    for r in kust.get("resources", []):
        check(os.path.exists(os.path.join(deploy, "k8s", r)), f"kustomization resource {r} exists")

configmaps = by_kind.get("ConfigMap", {})
secrets = by_kind.get("Secret", {})
deployments = by_kind.get("Deployment", {})
services = by_kind.get("Service", {})


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


for name, dep in deployments.items():
    spec = dep["spec"]
    tmpl = spec["template"]
    labels = tmpl["metadata"].get("labels", {})
    check(matches(spec["selector"]["matchLabels"], labels), f"Deployment {name}: selector matches its pod labels")
    pod = tmpl["spec"]
    sc = pod.get("securityContext", {})
    check(sc.get("runAsNonRoot") is True and sc.get("runAsUser", 0) != 0, f"Deployment {name}: runs as non-root")
    for c in pod["containers"]:
        res = c.get("resources", {})
        check("requests" in res and "limits" in res and "memory" in res["limits"],
              f"Deployment {name}/{c['name']}: resource requests and a memory limit")
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe, {}).get("httpGet", {})
            check(p.get("port") in ports or p.get("port") in ports.values(),
                  f"Deployment {name}/{c['name']}: {probe} on a declared port ({p.get('port')})")
        for ef in c.get("envFrom", []):
            ref = ef.get("configMapRef", {}).get("name")
            if ref:
                check(ref in configmaps, f"Deployment {name}: ConfigMap {ref} exists")
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                s = secrets.get(ref["name"])
                check(s is not None and ref["key"] in s.get("stringData", s.get("data", {})),
                      f"Deployment {name}: Secret {ref['name']} key {ref['key']} (secret.example.yaml)")
        # The port the service listens on is the one the container declares.
        env_port = None
        for ef in c.get("envFrom", []):
            cm = configmaps.get(ef.get("configMapRef", {}).get("name"), {})
            env_port = cm.get("data", {}).get("PROXIMITY_PORT") or cm.get("data", {}).get("PROXIMITY_RELAY_PORT") or env_port
        if env_port is not None:
            check(int(env_port) in ports.values(), f"Deployment {name}: container port matches the configured {env_port}")

px = deployments.get("proximityd")
if check(px is not None, "Deployment proximityd exists"):
    c = px["spec"]["template"]["spec"]["containers"][0]
    check(c.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "proximityd: readiness on /readyz")
    check(c.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "proximityd: liveness on /healthz")
    ru = px["spec"].get("strategy", {}).get("rollingUpdate", {})
    check(ru.get("maxUnavailable") == 0, "proximityd: rolling updates keep every ready pod until its successor is ready")
    cm = configmaps.get("proximityd-config", {}).get("data", {})
    grace = px["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
    need = int(cm.get("PROXIMITY_DRAIN_DELAY", "0")) / 1000 + int(cm.get("PROXIMITY_DRAIN_TIMEOUT", "10"))
    check(grace > need, f"proximityd: terminationGracePeriodSeconds {grace} > drain delay + timeout {need:g}")
relay = deployments.get("proximity-cdc")
if check(relay is not None, "Deployment proximity-cdc (the relay) exists"):
    check(relay["spec"].get("replicas") == 1 and relay["spec"].get("strategy", {}).get("type") == "Recreate",
          "relay: one replica, Recreate (one owner of the slot)")
for name, svc in services.items():
    sel = svc["spec"].get("selector", {})
    check(any(matches(sel, d["spec"]["template"]["metadata"]["labels"]) for d in deployments.values()),
          f"Service {name}: selector matches a Deployment's pods")
for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
    t = hpa["spec"]["scaleTargetRef"]
    check(t["kind"] == "Deployment" and t["name"] in deployments, f"HPA {name}: targets Deployment {t['name']}")
    check(hpa["spec"]["minReplicas"] >= 2, f"HPA {name}: at least 2 replicas")
for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
    sel = pdb["spec"]["selector"]["matchLabels"]
    check(any(matches(sel, d["spec"]["template"]["metadata"]["labels"]) for d in deployments.values()),
          f"PDB {name}: selector matches a Deployment's pods")

# ---- docker-compose.yml --------------------------------------------------
compose_path = os.path.join(deploy, "docker-compose.yml")
compose = docs.get(compose_path, [{}])[0]
svcs = compose.get("services", {})
for want in ("pg-primary", "pg-replica", "kafka", "relay", "proximityd-1", "proximityd-2", "lb"):
    check(want in svcs, f"compose: service {want}")
for name, s in svcs.items():
    deps = s.get("depends_on", {})
    for d in (deps if isinstance(deps, list) else deps.keys()):
        check(d in svcs, f"compose: {name} depends on existing service {d}")
    for v in s.get("volumes", []):
        src = v.split(":")[0]
        if src.startswith("."):
            check(os.path.exists(os.path.join(deploy, src)), f"compose: {name} mounts existing {src}")
        else:
            check(src in (compose.get("volumes") or {}), f"compose: {name} uses declared volume {src}")
    b = s.get("build")
    if b:
        ctx = os.path.join(deploy, b["context"])
        check(os.path.exists(os.path.join(ctx, b["dockerfile"])), f"compose: {name} builds {b['dockerfile']}")
    check("image" in s or "build" in s, f"compose: {name} has an image")
kafka_env = svcs.get("kafka", {}).get("environment", {})
check("controller" in str(kafka_env.get("KAFKA_PROCESS_ROLES", "")) and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka_env,
      "compose: Kafka runs in KRaft mode (no ZooKeeper)")
check(not any("zookeeper" in n for n in svcs), "compose: no ZooKeeper service")
for name in ("proximityd-1", "proximityd-2"):
    hc = svcs.get(name, {}).get("healthcheck", {}).get("test", [])
    check(any("/readyz" in str(t) for t in hc), f"compose: {name} is healthy on /readyz")
with open(os.path.join(deploy, "haproxy.cfg")) as f:
    hap = f.read()
check("option httpchk GET /readyz" in hap, "haproxy.cfg: checks /readyz")
for name in ("proximityd-1", "proximityd-2"):
    check(re.search(rf"^\s*server {name} {name}:8080", hap, re.M) is not None, f"haproxy.cfg: routes to {name}:8080")

# ---- Dockerfile ----------------------------------------------------------
with open(os.path.join(deploy, "Dockerfile")) as f:
    lines = [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]
froms = [l for l in lines if l.upper().startswith("FROM ")]
check(len(froms) >= 2, f"Dockerfile: multi-stage ({len(froms)} stages)")
check(all(re.match(r"FROM debian:12(\S*)", l, re.I) for l in froms), "Dockerfile: every stage on Debian 12")
stages = [m.group(1) for l in froms for m in [re.search(r"\bAS\s+(\S+)", l, re.I)] if m]
for l in lines:
    m = re.search(r"--from=(\S+)", l)
    if m:
        check(m.group(1) in stages, f"Dockerfile: COPY --from={m.group(1)} names a stage")
last = max(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
users = [l.split()[1] for l in lines[last:] if l.upper().startswith("USER ")]
check(bool(users) and users[-1].split(":")[0] not in ("root", "0"), f"Dockerfile: final stage runs as {users[-1] if users else 'root'}")

# ---- metrics named by alerts and the dashboard exist ------------------------
sources = ""
for p in glob.glob(os.path.join(srcdir, "src", "*.c")):
    with open(p) as f:
        sources += f.read()
emitted = set(re.findall(r"proximity_[a-z_]+", sources))
# the relay's names are built as "proximity_cdc_" name
for m in re.findall(r'M\("([a-z_]+)"', sources):
    emitted.add("proximity_cdc_" + m)


def metric_known(name):
    if name in emitted:
        return True
    base = re.sub(r"_(bucket|sum|count)$", "", name)
    return base in emitted


exprs = []
for g in docs.get(os.path.join(deploy, "prometheus", "alerts.yml"), [{}])[0].get("groups", []):
    for r in g["rules"]:
        check(all(k in r for k in ("alert", "expr", "labels", "annotations")) and "severity" in r["labels"],
              f"alert {r.get('alert')}: expr, severity, annotations")
        exprs.append(("alert " + r.get("alert", "?"), r["expr"]))
with open(os.path.join(deploy, "grafana", "proximity-dashboard.json")) as f:
    dash = json.load(f)
check(bool(dash.get("panels")), "grafana: dashboard has panels")
for p in dash.get("panels", []):
    for t in p.get("targets", []):
        exprs.append(("panel " + p["title"], t["expr"]))
for where, e in exprs:
    for name in set(re.findall(r"\bproximity_[a-z_]+", e)):
        check(metric_known(name), f"{where}: metric {name} is emitted by the sources")
    check(e.count("(") == e.count(")") and e.count("{") == e.count("}"), f"{where}: balanced brackets")

# ---- every PROXIMITY_* name in deploy/ is an option ------------------------
known = set()
for h in (help_d, help_r):
    with open(h) as f:
        known |= set(re.findall(r"\bPROXIMITY_[A-Z_]+\b", f.read()))
check(len(known) > 20, f"--help lists {len(known)} PROXIMITY_* options")
used = {}
for path in glob.glob(os.path.join(deploy, "**", "*"), recursive=True):
    if os.path.isfile(path):
        with open(path, errors="replace") as f:
            for name in re.findall(r"\bPROXIMITY_[A-Z_]+\b", f.read()):
                used.setdefault(name, set()).add(rel(path))
# Not options: variables of the scripts in deploy/ itself.
script_vars = {"PROXIMITY_URL", "PROXIMITY_GEN", "PROXIMITY_CITIES"}
for name in sorted(used):
    if name in script_vars:
        continue
    check(name in known, f"{name} (in {', '.join(sorted(used[name]))}) is an option in --help")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
