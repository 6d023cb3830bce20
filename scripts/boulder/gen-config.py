#!/usr/bin/env python3
"""Derive a loopback-only, Docker-free Boulder config set from test/config.

Reads $BOULDER_HOME/src/test/config/*.json and writes $BOULDER_HOME/cfg/*.json (BOULDER_HOME is set by boulder.sh).
Changes (and nothing else):
  * gRPC clients: SRV lookups via Consul -> static serverAddress 127.0.0.1:PORT
    (except WFE redeemNonceService, which must use SRV: it points at a local
    dnsmasq on 127.0.0.1:8600 that answers like Consul would)
  * redis: SRV lookups -> shardAddrs 127.0.0.1:4218
  * VA/RVA: DNS via static DoH resolver (chall-test-srv on 127.0.0.1:8443),
    DNSAllowLoopbackAddresses=true; remote VAs at 127.0.0.1
  * CT log list: boulder.service.consul -> 127.0.0.1; ct-test-srv binds 127.0.0.1
  * zlint config without the pkimetal lints (no pkimetal daemon)
  * syslog disabled (stdout only)
  * DB URLs -> 127.0.0.1:3306 (MariaDB directly, no ProxySQL)
"""
import json, os, re, sys

import os
HOME = os.environ["BOULDER_HOME"]
SRC = HOME + "/src"
OUT = HOME + "/cfg"
os.makedirs(OUT, exist_ok=True)
os.makedirs(OUT + "/secrets", exist_ok=True)

H = "127.0.0.1"
PORTS = {
    "sa": 9395, "publisher": 9391, "va": 9392, "ca": 9393, "ra": 9394,
    "ra-sct-provider": 9594, "nonce-taro": 9301, "nonce-zinc": 9401,
}
FAKE_CONSUL = H + ":8600"
DOH = H + ":8443"
REDIS = H + ":4218"


def load(name):
    with open(os.path.join(SRC, "test/config", name)) as f:
        return json.load(f)


def save(name, obj):
    with open(os.path.join(OUT, name), "w") as f:
        json.dump(obj, f, indent=2)


def static_client(c):
    """Turn an SRV-based gRPC client config into a static serverAddress."""
    svc = c["srvLookup"]["service"]
    n = {k: v for k, v in c.items() if k not in ("srvLookup", "srvLookups", "dnsAuthority", "srvResolver")}
    n["serverAddress"] = "%s:%d" % (H, PORTS[svc])
    return n


def fix_syslog(cfg):
    for k in ("syslog",):
        if k in cfg:
            cfg[k]["sysloglevel"] = -1
            cfg[k]["stdoutlevel"] = max(cfg[k].get("stdoutlevel", 6), 6)
    # nonce service keeps its syslog inside the service block
    for v in cfg.values():
        if isinstance(v, dict) and "syslog" in v:
            v["syslog"] = {"stdoutLevel": 6, "syslogLevel": -1}


RELAXED = os.environ.get("BOULDER_LIMITS", "") == "relaxed"
if RELAXED:
    # Same limit names as test/config/ratelimit-defaults.yml, counts raised so
    # that repeated client test runs are not rate limited.
    import textwrap
    lim = open(os.path.join(SRC, "test/config/ratelimit-defaults.yml")).read()
    lim = re.sub(r"(count|burst): \d+", r"\1: 100000", lim)
    open(os.path.join(OUT, "ratelimit-defaults.yml"), "w").write(lim)


def fix_redis(limiter):
    if RELAXED:
        limiter["Defaults"] = OUT + "/ratelimit-defaults.yml"
    r = limiter["redis"]
    r.pop("lookups", None)
    r.pop("lookupDNSAuthority", None)
    r["shardAddrs"] = {"shard1": REDIS}


# --- DB URLs (MariaDB directly on 127.0.0.1:3306) -------------------------
for f in os.listdir(os.path.join(SRC, "test/config/proxysql")):
    s = open(os.path.join(SRC, "test/config/proxysql", f)).read()
    s = s.replace("boulder-proxysql:6033", H + ":3306")
    open(os.path.join(OUT, "secrets", f), "w").write(s)

# --- zlint without pkimetal -----------------------------------------------
open(os.path.join(OUT, "zlint.toml"), "w").write("# pkimetal lints disabled (no pkimetal daemon)\n")

# --- CT log list + ct-test-srv ------------------------------------------
ll = open(os.path.join(SRC, "test/ct-test-srv/log_list.json")).read()
ll = ll.replace("http://boulder.service.consul:", "http://%s:" % H)
open(os.path.join(OUT, "log_list.json"), "w").write(ll)
ct = json.load(open(os.path.join(SRC, "test/ct-test-srv/ct-test-srv.json")))
for p in ct["Personalities"]:
    p["Addr"] = H + p["Addr"] if p["Addr"].startswith(":") else p["Addr"]
json.dump(ct, open(os.path.join(OUT, "ct-test-srv.json"), "w"), indent=2)

# --- SA -------------------------------------------------------------------
sa = load("sa.json")
sa["sa"]["db"]["dbConnectFile"] = OUT + "/secrets/sa_dburl"
sa["sa"]["readOnlyDB"]["dbConnectFile"] = OUT + "/secrets/sa_ro_dburl"
sa["sa"]["incidentsDB"]["dbConnectFile"] = OUT + "/secrets/incidents_dburl"
fix_syslog(sa)
save("sa.json", sa)

# --- publisher ------------------------------------------------------------
pub = load("publisher.json")
fix_syslog(pub)
save("publisher.json", pub)

# --- VA + remote VAs --------------------------------------------------------
rva_ports = {}
for name, port in (("remoteva-a", 9397), ("remoteva-b", 9498), ("remoteva-c", 9499)):
    r = load(name + ".json")
    r["rva"].pop("dnsProvider", None)
    r["rva"]["dnsStaticResolvers"] = [DOH]
    r["rva"]["dnsAllowLoopbackAddresses"] = True
    fix_syslog(r)
    save(name + ".json", r)

va = load("va.json")
va["va"].pop("dnsProvider", None)
va["va"]["dnsStaticResolvers"] = [DOH]
va["va"]["dnsAllowLoopbackAddresses"] = True
for rv in va["va"]["remoteVAs"]:
    port = rv["serverAddress"].rsplit(":", 1)[1]
    rv["serverAddress"] = "%s:%s" % (H, port)
fix_syslog(va)
save("va.json", va)

# --- CA -------------------------------------------------------------------
ca = load("ca.json")
c = ca["ca"]
c["sctService"] = static_client(c["sctService"])
c["saService"] = static_client(c["saService"])
c["ctLogListFile"] = OUT + "/log_list.json"
for p in c["issuance"]["certProfiles"].values():
    p["lintConfig"] = OUT + "/zlint.toml"
c["issuance"]["crlProfile"]["lintConfig"] = OUT + "/zlint.toml"
fix_syslog(ca)
save("ca.json", ca)

# --- RA (main + SCT provider use the same file) ----------------------------
ra = load("ra.json")
r = ra["ra"]
for k in ("vaService", "caService", "publisherService", "saService"):
    r[k] = static_client(r[k])
fix_redis(r["limiter"])
r["ctLogs"]["logListFile"] = OUT + "/log_list.json"
fix_syslog(ra)
save("ra.json", ra)

# --- nonce services -------------------------------------------------------
for n in ("nonce-a.json", "nonce-b.json"):
    nc = load(n)
    fix_syslog(nc)
    save(n, nc)

# --- WFE --------------------------------------------------------------------
wfe = load("wfe2.json")
w = wfe["wfe"]
w["listenAddress"] = H + ":4001"
w["TLSListenAddress"] = H + ":4431"
w["raService"] = static_client(w["raService"])
w["saService"] = static_client(w["saService"])
w["getNonceService"] = static_client(w["getNonceService"])
# Redemption must go through the nonce-srv-v2 SRV resolver: served by dnsmasq.
w["redeemNonceService"]["dnsAuthority"] = FAKE_CONSUL
w["redeemNonceService"]["srvLookups"] = [{"service": "nonce-taro", "domain": "service.consul"}]
fix_redis(w["limiter"])
fix_syslog(wfe)
save("wfe2.json", wfe)

# --- health checker -------------------------------------------------------
hc = load("health-checker.json")
hc["grpc"]["timeout"] = "3s"
save("health-checker.json", hc)

print("configs written to", OUT)
