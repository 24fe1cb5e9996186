#!/usr/bin/env python3
"""Container-level test of docker-compose.yml: seven fundsync nodes (the region
on PostgreSQL, two prefectures, four counties) in their own containers on
their own networks, cut off, killed and restored the way operators would.

Run through tests/containers/run.sh (which builds the images first). Needs
docker with compose (`docker compose` or `docker-compose`) and the images
fundsync/node:latest and fundsync/postgres:15. Uses only Python's standard
library. Every wait polls against a deadline; nothing sleeps for readiness.

Scenarios (each prints PASS or FAIL, then `N passed, M failed`):

  up         the cluster comes up healthy; every link is established
  money      an allocation at the region reaches its county (650000 → 652800
             → 652822); payments at the counties reach the region's summary
  restart    a second `up -d` changes nothing; restarting every node re-runs
             no init, join or enrolment and keeps every figure
  partition  652800 is cut off its networks while its counties record
             payments and the region allocates; the rest of the tree keeps
             working; after reconnection everything converges, each payment
             counted once at the region
  kill       SIGKILL of a county while it pushes thousands of payments, and of
             the region (PostgreSQL) while it receives them: both restart and
             converge, nothing lost or doubled
  restore    a county restored from an old backup (deploy/backup) holds an
             older journal than its parent: it takes its own entries back from
             the parent, nothing lost or counted twice, and goes on; restored
             again and written to while cut off, its journal then differs from
             the parent's copy: it pushes nothing, says so in /sync/link and
             raises a fork alarm in its own sync_alarms, and nothing of it
             reaches the parent or the region

Every API call but /healthz and /readyz needs a bearer token: once the
nodes are healthy, each gets a test user (roles in IT_ROLES) and a token made
inside its container with the node's own CLI (`provision_tokens`), sent as
`Authorization: Bearer` on every call. FUNDSYNC_IT_AUTH=0 skips that, for an
image from before accounts.

Environment: FUNDSYNC_IT_PROJECT (compose project name, default
fundsync-it-<pid>), FUNDSYNC_IT_KEEP=1 (leave the cluster up for a look),
FUNDSYNC_IT_AUTH=0 (no accounts, see above).
"""

import http.client
import io
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILES = [ROOT / "docker-compose.yml", ROOT / "tests/containers/compose.test.yml"]
NODE_IMAGE = "fundsync/node:latest"

# service -> (division code, parent service)
NODES = {
    "region": ("650000", None),
    "prefecture-652800": ("652800", "region"),
    "prefecture-653100": ("653100", "region"),
    "county-652822": ("652822", "prefecture-652800"),
    "county-652823": ("652823", "prefecture-652800"),
    "county-653121": ("653121", "prefecture-653100"),
    "county-653122": ("653122", "prefecture-653100"),
}
SERVICE_OF = {code: svc for svc, (code, _) in NODES.items()}
COUNTIES = ["652822", "652823", "653121", "653122"]
SERVICES = ["postgres", *NODES]

UP_S = 600  # first start: PostgreSQL initdb, init, enrolment down three levels
HEALTHY_S = 180
CONVERGE_S = 240
ARRIVE_S = 120
AS_OF = "2020-12-31"
CSV_HEADER = "voucher_no,paid_on,payer,payee_name,amount,allocation,project\n"

# The test's account at every node, made with the node's CLI inside its
# container (see Cluster.provision_tokens). The command shapes are those of
# `fundsync user add --help` and `fundsync token create --help`:
#   fundsync user add LOGIN --name NAME --role R1,R2 [--classified] --password-file FILE
#   fundsync token create --user LOGIN --name NAME     (the secret alone on stdout's last line)
# Roles: allocation (funds received, allocations, any category), department
# (projects and targets), treasury (payments, CSV imports), lead (reads the
# whole ledger and the sync health, reviews and approves targets);
# --classified so the totals see every category.
IT_AUTH = os.environ.get("FUNDSYNC_IT_AUTH", "1") != "0"
IT_USER = "it-runner"
IT_ROLES = "allocation,department,treasury,lead"


class CheckFailed(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def ensure(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def eventually(what, deadline_s, fn, interval_s=0.25):
    """Polls fn() until it returns something other than None/False; errors
    count as 'not yet' until the deadline, and the last one is reported."""
    until = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            v = fn()
            if v is not None and v is not False:
                return v
            last = "condition not met"
        except (CheckFailed, OSError, http.client.HTTPException, subprocess.SubprocessError,
                ValueError, KeyError) as e:
            last = f"{type(e).__name__}: {e}"
        if time.monotonic() >= until:
            raise CheckFailed(f"{what}: not within {deadline_s}s (last: {last})")
        time.sleep(interval_s)


def run(cmd, input=None, timeout=300, check=True):
    p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise CheckFailed(
            f"{' '.join(map(str, cmd))[:200]} exited {p.returncode}: "
            f"{p.stderr.decode(errors='replace').strip()[-1500:]}"
        )
    return p


def compose_command():
    for cmd in (["docker", "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*cmd, "version"], capture_output=True).returncode == 0:
                return cmd
        except FileNotFoundError:
            pass
    raise SystemExit("neither `docker compose` nor `docker-compose` is available")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Raw:
    """Enough of a socket for http.client to parse a response held in bytes."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def makefile(self, *_args, **_kwargs):
        return self._f


class Cluster:
    def __init__(self, project, port):
        self.project = project
        self.port = port
        self.compose_cmd = compose_command()
        self.env = dict(os.environ, FUNDSYNC_HTTP_PORT=str(port))
        self._cid = {}
        self.tokens = {}  # service -> bearer token (IT_AUTH)

    # ---- docker ---------------------------------------------------------
    def compose(self, *args, input=None, timeout=900, check=True):
        files = [a for f in COMPOSE_FILES for a in ("-f", str(f))]
        cmd = [*self.compose_cmd, "-p", self.project, *files, *args]
        p = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, env=self.env,
                           cwd=ROOT)
        if check and p.returncode != 0:
            raise CheckFailed(
                f"{' '.join(args)} failed ({p.returncode}): "
                f"{(p.stdout + p.stderr).decode(errors='replace').strip()[-3000:]}"
            )
        return (p.stdout + p.stderr).decode(errors="replace")

    def cid(self, service):
        if service not in self._cid:
            out = self.compose("ps", "-a", "-q", service).split()
            ensure(out, f"no container for {service}")
            self._cid[service] = out[-1]
        return self._cid[service]

    def inspect(self, service, fmt):
        return run(["docker", "inspect", "-f", fmt, self.cid(service)]).stdout.decode().strip()

    def health(self, service):
        return self.inspect(service, "{{if .State.Health}}{{.State.Health.Status}}"
                                     "{{else}}{{.State.Status}}{{end}}")

    def wait_healthy(self, services, deadline_s=HEALTHY_S):
        def all_healthy():
            states = {s: self.health(s) for s in services}
            bad = {s: v for s, v in states.items() if v != "healthy"}
            ensure(not bad, f"not healthy: {bad}")
            return True

        eventually(f"healthy: {', '.join(services)}", deadline_s, all_healthy, 1.0)

    def dexec(self, service, *cmd, input=None, user=None, timeout=120, check=True):
        u = ["-u", user] if user else []
        return run(["docker", "exec", "-i", *u, self.cid(service), *cmd], input=input,
                   timeout=timeout, check=check)

    # ---- accounts ---------------------------------------------------------
    def provision_tokens(self):
        """A user with IT_ROLES and an API token at every node, through the
        node's own CLI (`docker exec`, as uid 10001, FUNDSYNC_CONFIG from
        the image). The password goes through a file in the container's
        tmpfs and is deleted at once; the token is kept for the run."""
        if not IT_AUTH:
            return
        for svc in NODES:
            password = secrets.token_urlsafe(24)
            self.dexec(svc, "bash", "-c", "umask 077 && cat >/tmp/it-password",
                       input=password.encode())
            try:
                self.dexec(svc, "fundsync", "user", "add", IT_USER, "--name", "容器测试",
                           "--role", IT_ROLES, "--classified",
                           "--password-file", "/tmp/it-password")
            finally:
                self.dexec(svc, "rm", "-f", "/tmp/it-password", check=False)
            out = self.dexec(svc, "fundsync", "token", "create", "--user", IT_USER,
                             "--name", "tests/containers").stdout.decode()
            lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
            ensure(lines, f"{svc}: `fundsync token create` printed no token")
            self.tokens[svc] = lines[-1]
        log(f"a test user and token at each of {len(self.tokens)} nodes")

    def auth_header(self, service):
        """The Authorization header line for `service`, or "" without IT_AUTH."""
        token = self.tokens.get(service)
        return f"Authorization: Bearer {token}\r\n" if token else ""

    # ---- HTTP -----------------------------------------------------------
    def http(self, service, method, path, body=None, ctype="application/json", timeout=300):
        """(status, parsed JSON or text). The region through its published
        port; every other node inside its container over bash's /dev/tcp."""
        data = b""
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        if service == "region":
            req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data or None,
                                         method=method)
            if body is not None:
                req.add_header("Content-Type", ctype)
            if service in self.tokens:
                req.add_header("Authorization", f"Bearer {self.tokens[service]}")
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    status, raw = r.status, r.read()
            except urllib.error.HTTPError as e:
                status, raw = e.code, e.read()
        else:
            head = (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                    f"Content-Length: {len(data)}\r\n{self.auth_header(service)}")
            if body is not None:
                head += f"Content-Type: {ctype}\r\n"
            p = self.dexec(service, "bash", "-c",
                           "exec 3<>/dev/tcp/127.0.0.1/8080 || exit 97; cat >&3; cat <&3",
                           input=head.encode() + b"\r\n" + data, timeout=timeout, check=False)
            if p.returncode != 0 or not p.stdout:
                raise OSError(f"{service}: no answer to {method} {path} (exit {p.returncode}: "
                              f"{p.stderr.decode(errors='replace').strip()[:300]})")
            r = http.client.HTTPResponse(_Raw(p.stdout))
            r.begin()
            status, raw = r.status, r.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def get(self, service, path):
        s, v = self.http(service, "GET", path)
        if s != 200:
            raise OSError(f"GET {path} at {service}: {s} {v}")
        return v

    def post(self, service, path, body, expect=(200, 201), ctype="application/json"):
        s, v = self.http(service, "POST", path, body, ctype)
        ensure(s in expect, f"POST {path} at {service}: {s} {v}")
        return v

    # ---- fundsync views -------------------------------------------------
    def heads(self, service):
        return {h["origin"]: (h["seq"], json.dumps(h["hash"])) for h in
                self.get(service, "/api/v1/sync/heads")}

    def head_seq(self, service, origin):
        return self.heads(service).get(origin, (0, None))[0]

    def link(self, service):
        return self.get(service, "/api/v1/sync/link")["link"] or {}

    def has_allocation(self, service, alloc_id):
        s, _ = self.http(service, "GET", f"/api/v1/allocations/{alloc_id}")
        return s == 200

    def paid(self, service="region"):
        """Paid per node in `service`'s master ledger summary."""
        v = self.get(service, f"/api/v1/ledger/summary?as_of={AS_OF}&group_by=node")
        return {r["group"]["node"]: Decimal(str(r["paid"])) for r in v["rows"]}

    def payment_count(self, service, origin):
        n, page = 0, 1
        while True:
            v = self.get(service, f"/api/v1/payments?origin={origin}&page={page}&page_size=1000")
            n += len(v["items"])
            if not v["has_more"]:
                return n
            page += 1

    def links_not_ok(self):
        """Links whose state in the region's health tree is not "ok"."""
        tree = self.get("region", "/api/v1/sync/health")
        bad = [f"{lk['node']} {lk['state']}" for lk in tree["links"] if lk["state"] != "ok"]
        return bad if bad or len(tree["links"]) == len(NODES) - 1 else ["links missing"]

    def lagging(self):
        """What keeps the tree from having converged: an ancestor whose copy
        of a node's chain differs from the node's own head, or a child that
        does not hold all of its parent's down stream."""
        heads = {svc: self.heads(svc) for svc in NODES}
        lag = []
        for svc, (code, parent) in NODES.items():
            mine = heads[svc].get(code)
            up = parent
            while mine and up:
                theirs = heads[up].get(code)
                if theirs != mine:
                    lag.append(f"{NODES[up][0]} holds {code}@{theirs[0] if theirs else 0}, "
                               f"{code} is at {mine[0]}")
                up = NODES[up][1]
            if parent:
                lk = self.link(svc)
                if lk.get("down_head") is None or (lk.get("down_held") or 0) < lk["down_head"]:
                    lag.append(f"{code} holds down {lk.get('down_held')} of {lk.get('down_head')}")
        return lag

    def converged(self, deadline_s=CONVERGE_S):
        last = []

        def check():
            nonlocal last
            last = self.lagging()
            return not last

        try:
            eventually("convergence", deadline_s, check, 0.5)
        except CheckFailed as e:
            raise CheckFailed(f"{e}; lagging: {'; '.join(last) or '?'}") from None


class HeadStream:
    """One origin's head at one node, read in a loop inside the node's
    container (GET /api/v1/sync/heads over bash's /dev/tcp, one JSON document
    a line) and followed by a thread: the current value within milliseconds,
    at the cost of one `docker exec`."""

    LOOP = r"""end=$((SECONDS + 600))
while ((SECONDS < end)); do
    if exec 3<>/dev/tcp/127.0.0.1/8080; then
        printf 'GET /api/v1/sync/heads HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n' "$AUTH" >&3
        r="$(cat <&3)"
        exec 3<&-
        printf '%s\n' "${r##*$'\r\n\r\n'}"
    else
        echo null
    fi
done 2>/dev/null"""

    def __init__(self, cluster, service, origin):
        # The Authorization line (with its CRLF) goes in through the
        # environment; empty without IT_AUTH.
        self.cmd = ["docker", "exec", "-i", "-e", f"AUTH={cluster.auth_header(service)}",
                    cluster.cid(service), "bash", "-c", self.LOOP]
        self.origin = origin
        self.seq = None
        self.cond = threading.Condition()

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()
        return self

    def _follow(self):
        for line in self.proc.stdout:
            try:
                heads = json.loads(line)
            except ValueError:
                continue
            if isinstance(heads, list):
                seq = next((h["seq"] for h in heads if h["origin"] == self.origin), 0)
                with self.cond:
                    self.seq = seq
                    self.cond.notify_all()

    def wait(self, pred, deadline_s):
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.seq), timeout=deadline_s)
            ensure(ok, f"{self.origin}'s head never met the condition (last seen {self.seq})")
            return self.seq

    def __exit__(self, *_exc):
        self.proc.kill()
        self.proc.wait()
        self.thread.join(timeout=5)


class Test:
    def __init__(self, cluster):
        self.c = cluster
        self.results = []
        self.alloc = {}  # county -> allocation id it pays from
        self.expected_paid = {c: Decimal(0) for c in COUNTIES}
        self.expected_count = {c: 0 for c in COUNTIES}
        self.notes = []
        self.voucher = 0

    # ---- helpers --------------------------------------------------------
    def next_voucher(self, tag):
        self.voucher += 1
        return f"{tag}-{self.voucher:06d}"

    def pay(self, county, amount, tag="P", counted=True):
        """Records a payment at `county`; `counted`: expected at the region."""
        v = self.next_voucher(tag)
        out = self.c.post(SERVICE_OF[county], "/api/v1/payments", {
            "voucher_no": v, "paid_on": "2020-05-10", "payer": "县财政局",
            "payee_name": "某某建设公司", "payee_account": "6222000011112222",
            "payee_bank": "农业银行", "amount": amount, "function_class": "2130505",
            "allocation": self.alloc[county], "project": "P1", "purpose": "道路硬化"})
        ensure(out.get("created") is True, f"payment {v} at {county}: {out}")
        if counted:
            self.expected_paid[county] += Decimal(amount)
            self.expected_count[county] += 1
        return out["id"]

    def import_csv(self, county, rows, amount, tag):
        lines = [CSV_HEADER]
        for _ in range(rows):
            lines.append(f"{self.next_voucher(tag)},2020-06-01,县财政局,某某合作社,{amount},"
                         f"{self.alloc[county]},P1\n")
        out = self.c.post(SERVICE_OF[county], "/api/v1/payments/import",
                          "".join(lines).encode(), expect=(200,), ctype="text/csv")
        ensure(out.get("created") == rows, f"CSV import at {county}: {out}")
        self.expected_paid[county] += Decimal(amount) * rows
        self.expected_count[county] += rows

    def assert_totals(self, counties=COUNTIES):
        """Every payment counted exactly once: the region's summary and its
        payment rows per county, and each county's own summary."""
        at_region = self.c.paid("region")
        for county in counties:
            want = self.expected_paid[county]
            got = at_region.get(county, Decimal(0))
            ensure(got == want, f"the region counts {got} paid by {county}, expected {want}")
            own = self.c.paid(SERVICE_OF[county]).get(county, Decimal(0))
            ensure(own == want, f"{county} itself counts {own} paid, expected {want}")
            n = self.c.payment_count("region", county)
            ensure(n == self.expected_count[county],
                   f"the region holds {n} payments of {county}, expected {self.expected_count[county]}")

    def check(self, name, fn):
        log(f"--- {name}")
        t0 = time.monotonic()
        try:
            fn()
            self.results.append((name, True, ""))
            log(f"PASS {name} ({time.monotonic() - t0:.1f}s)")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the next check runs
            msg = str(e) if isinstance(e, CheckFailed) else traceback.format_exc()
            self.results.append((name, False, msg))
            log(f"FAIL {name} ({time.monotonic() - t0:.1f}s): {msg}")

    # ---- scenarios ------------------------------------------------------
    def up(self):
        t0 = time.monotonic()
        self.c.compose("up", "-d", timeout=UP_S)
        self.c.wait_healthy(SERVICES, UP_S)
        log(f"all {len(SERVICES)} services healthy {time.monotonic() - t0:.1f}s after `up -d`")
        self.c.provision_tokens()
        def link_ok(svc):
            lk = self.c.link(svc)
            return bool(lk.get("last_up_ms") and lk.get("last_down_ms") and not lk.get("last_error"))

        for svc, (code, parent) in NODES.items():
            if parent is not None:
                eventually(f"{code}'s link to its parent", ARRIVE_S, lambda s=svc: link_ok(s))
        node = self.c.get("region", "/api/v1/node")
        ensure(node.get("code") == "650000", f"the published API is not the region's: {node}")
        self.c.converged()
        eventually("every link ok in the region's health tree", ARRIVE_S,
                   lambda: not self.c.links_not_ok(), 1.0)

    def money(self):
        c = self.c
        got = c.post("region", "/api/v1/funds-received", {
            "doc_no": "财农〔2020〕7号", "category": "X-01", "amount": "100000000",
            "received_on": "2020-04-20", "source": "财政部"})["id"]
        to_pref = {}
        for pref, doc, amt in [("652800", "新财农〔2020〕12号", "40000000"),
                               ("653100", "新财农〔2020〕13号", "30000000")]:
            to_pref[pref] = c.post("region", "/api/v1/allocations", {
                "doc_no": doc, "source": got, "to": pref, "amount": amt,
                "issued_on": "2020-04-26"})["id"]
        for pref, aid in to_pref.items():
            eventually(f"{aid} at {pref}", ARRIVE_S,
                       lambda p=pref, a=aid: c.has_allocation(SERVICE_OF[p], a))
        ensure(not c.has_allocation("prefecture-653100", to_pref["652800"]),
               "an allocation to 652800 reached 653100")
        for county, pref, doc in [("652822", "652800", "巴财农〔2020〕21号"),
                                  ("652823", "652800", "巴财农〔2020〕22号"),
                                  ("653121", "653100", "喀财农〔2020〕5号"),
                                  ("653122", "653100", "喀财农〔2020〕6号")]:
            self.alloc[county] = c.post(SERVICE_OF[pref], "/api/v1/allocations", {
                "doc_no": doc, "source": to_pref[pref], "to": county, "amount": "15000000",
                "issued_on": "2020-04-28"})["id"]
        for county, aid in self.alloc.items():
            eventually(f"{aid} at {county}", ARRIVE_S,
                       lambda s=SERVICE_OF[county], a=aid: c.has_allocation(s, a))
        ensure(not c.has_allocation("county-652823", self.alloc["652822"]),
               "652822's allocation reached 652823")
        for county in COUNTIES:
            svc = SERVICE_OF[county]
            c.post(svc, "/api/v1/projects", {
                "code": "P1", "name": "村道硬化", "township": "镇", "village": "一村",
                "department": "交通局", "starts_on": "2020-03-01", "ends_on": "2020-10-31",
                "budget": "800000", "status": "planned"})
            # Seed 003 §7–9: a project receives funds only once its targets
            # are reviewed (审核) and approved (批复); then it starts.
            c.post(svc, "/api/v1/projects/P1/targets", {
                "level1": "output", "level2": "quantity", "indicator": "硬化道路里程",
                "op": ">=", "value": "12", "unit": "公里"})
            c.post(svc, "/api/v1/projects/P1/targets/review", {
                "reviewed_on": "2020-03-05", "necessity": True, "relevance": True,
                "fit": True})
            c.post(svc, "/api/v1/projects/P1/targets/approval", {
                "doc_no": f"{county}绩效〔2020〕1号", "approved_on": "2020-03-10"})
            c.post(svc, "/api/v1/projects/P1/status", {"status": "in_progress"})
        first = {}
        for county, amt in [("652822", "12345.67"), ("652823", "99999.99"), ("653121", "0.01")]:
            first[county] = self.pay(county, amt)
            self.pay(county, "1000")
        c.converged()
        self.assert_totals()
        # The region traces 652822's payment back through 652800 to the centre.
        trace = c.get("region", f"/api/v1/trace/payments/{first['652822']}")
        steps = [s["allocation"]["id"] for s in trace["allocations"]]
        want = [self.alloc["652822"], to_pref["652800"], got]
        ensure(steps == want, f"trace at the region: {steps}, expected {want}")

    def restart(self):
        c = self.c
        tokens_before = self.enroll_tokens()
        out = c.compose("up", "-d")
        ensure(not any(w in out for w in ("Recreat", "Creating", "Created")),
               f"a second `up -d` recreated something:\n{out}")
        c.wait_healthy(SERVICES)
        c.compose("restart", *NODES, timeout=600)
        c.wait_healthy(SERVICES)
        # The logs of both runs: set-up steps once, then found done.
        for svc, (code, parent) in NODES.items():
            logs = c.compose("logs", "--no-color", svc)
            children = sum(1 for p in NODES.values() if p[1] == svc)
            once = {
                f"] initialised {code} (": 1,
                "] joined the parent": 0 if parent is None else 1,
                "] one-time token for": children,
            }
            got = {k: logs.count(k) for k in once}
            ensure(got == once, f"{svc}: first-start steps {got}, expected {once}")
            for done in ["] already initialised"] + ([] if parent is None else ["] already joined"]):
                ensure(done in logs, f"{svc}: no '{done[2:]}' after the restart")
        ensure(self.enroll_tokens() == tokens_before,
               f"enrolment tokens changed across restarts: {tokens_before} → {self.enroll_tokens()}")
        files = sorted(c.dexec("region", "ls", "-A", "/enroll").stdout.decode().split())
        want = sorted(f"{code}.joined" for code, p in NODES.values() if p)
        ensure(files == want, f"the enroll volume holds {files}, expected {want}")
        c.converged()
        self.assert_totals()

    def enroll_tokens(self):
        """Tokens ever issued by the SQLite parents (the region's are in PostgreSQL)."""
        out = {}
        for svc in ("prefecture-652800", "prefecture-653100"):
            out[svc] = self.sql(svc, "SELECT COUNT(*) FROM enroll_tokens")
        return out

    def sql(self, service, query):
        return self.c.dexec(service, "sqlite3", "-readonly", "-cmd", ".timeout 10000",
                            "/var/lib/fundsync/ledger.sqlite", query).stdout.decode().strip()

    def partition(self):
        c = self.c
        pref = "prefecture-652800"
        cid = c.cid(pref)
        nets = json.loads(c.inspect(pref, "{{json .NetworkSettings.Networks}}"))
        ensure(len(nets) == 2, f"{pref} is on {list(nets)}")
        for net in nets:
            run(["docker", "network", "disconnect", net, cid])
        log(f"652800 disconnected from {', '.join(nets)}")
        try:
            for svc in (pref, "county-652822"):
                eventually(f"{svc} noticing the cut", ARRIVE_S,
                           lambda s=svc: (self.c.link(s).get("consecutive_failures") or 0) >= 1)
            # The cut prefecture's counties keep recording payments …
            for county in ("652822", "652823"):
                self.import_csv(county, 200, "10.01", "B")
                self.pay(county, "777.77")
            # … the region keeps allocating, to the cut prefecture and the other …
            got = c.post("region", "/api/v1/funds-received", {
                "doc_no": "财农〔2020〕88号", "category": "X-02", "amount": "5000000",
                "received_on": "2020-06-01"})["id"]
            late = {p: c.post("region", "/api/v1/allocations", {
                "doc_no": f"新财农〔2020〕88-{p}号", "source": got, "to": p, "amount": "1000000",
                "issued_on": "2020-06-02"})["id"] for p in ("652800", "653100")}
            # … and the rest of the tree works meanwhile.
            eventually("653100's allocation during the cut", ARRIVE_S,
                       lambda: c.has_allocation("prefecture-653100", late["653100"]))
            self.pay("653121", "5.55")
            eventually("653121's payment at the region during the cut", ARRIVE_S,
                       lambda: c.paid("region").get("653121") == self.expected_paid["653121"])
            ensure(not c.has_allocation(pref, late["652800"]),
                   "652800 received an allocation while cut off")
            ensure(c.paid("region").get("652822", 0) < self.expected_paid["652822"],
                   "the region saw 652822's new payments through a cut prefecture")
        finally:
            for net in nets:
                run(["docker", "network", "connect", "--alias", pref, net, cid], check=False)
        log("652800 reconnected")
        eventually(f"{late['652800']} at 652800", CONVERGE_S,
                   lambda: c.has_allocation(pref, late["652800"]))
        c.converged()
        self.assert_totals()
        eventually("every link ok again in the region's health tree", ARRIVE_S,
                   lambda: not c.links_not_ok(), 1.0)

    def kill_mid_sync(self, victim, sender, watcher, rows):
        """Imports `rows` payments at county `sender` and SIGKILLs `victim`
        while `watcher` holds some but not all of them (its heads streamed
        from inside its container, so the moment is seen within milliseconds);
        starts it again and checks that everything arrives exactly once.
        Tries up to three imports to catch the transfer in flight."""
        c = self.c
        county = NODES[sender][0]
        caught = None
        for attempt in range(1, 4):
            c.converged()
            start = c.head_seq(sender, county)
            with HeadStream(c, watcher, county) as w:
                before = w.wait(lambda s: s is not None, ARRIVE_S)
                ensure(before == start, f"{watcher} holds {county}@{before}, {county} is at {start}")
                self.import_csv(county, rows, "1.01", f"K{attempt}")
                # Committed at the county: its pusher is already at work.
                seen = w.wait(lambda s: s is not None and s > before, ARRIVE_S)
                if seen < start + rows:
                    run(["docker", "kill", "--signal", "KILL", c.cid(victim)])
                    caught = (seen, start + rows, before)
                    break
            log(f"attempt {attempt}: {watcher} held all {rows} new entries before the kill")
        ensure(caught, f"the transfer was never caught in flight in 3 attempts of {rows} rows")
        seen, target, before = caught
        log(f"killed {victim} (SIGKILL) with {watcher} holding {county}@{seen}: "
            f"{seen - before} of the {rows} new entries")
        state = c.inspect(victim, "{{.State.Status}} {{.State.ExitCode}}")
        log(f"{victim} after the kill: {state}")
        run(["docker", "start", c.cid(victim)])  # a no-op if the restart policy already did it
        c.wait_healthy([victim])
        c.converged()
        self.assert_totals()
        self.notes.append(f"kill {victim}: {watcher} held {seen - before} of {rows} new entries "
                          f"of {county} at the kill")

    def restore_backup(self, svc, ledger, backup):
        """Stops `svc` and puts `backup` back in place of its ledger, with the
        commands of deploy/README.md. Leaves it stopped."""
        c = self.c
        c.compose("stop", svc)
        script = (ROOT / "deploy/backup/sqlite-restore.sh").read_bytes()
        out = c.compose("run", "--rm", "-T", "--no-deps", "--entrypoint", "bash", svc, "-s", "--",
                        "--force", backup, ledger, input=script)
        ensure("restored " in out, f"sqlite-restore.sh: {out}")
        log(next(line for line in out.splitlines() if line.startswith("restored ")))

    def take_backup(self, svc, county, ledger, backup):
        """A live backup of `svc`'s ledger (deploy/backup); returns its own seq in it."""
        c = self.c
        script = (ROOT / "deploy/backup/sqlite-backup.sh").read_bytes()
        out = c.dexec(svc, "bash", "-s", "--", ledger, backup, input=script).stdout.decode()
        log(out.strip())
        return int(c.dexec(svc, "sqlite3", "-readonly", backup,
                           f"SELECT MAX(seq) FROM journal WHERE origin = '{county}'").stdout)

    def stopped_heads(self, svc, county, pref):
        """With `svc` stopped, what its parent holds of it (which no longer
        moves: health reports are entries too), once the region holds the same."""
        c = self.c
        n, n_hash = c.heads(pref)[county]
        eventually(f"the region holding {county}@{n}", ARRIVE_S,
                   lambda: c.heads("region").get(county) == (n, n_hash))
        return n, n_hash

    def restore(self):
        c = self.c
        county, svc, pref = "652823", "county-652823", "prefecture-652800"
        ledger, backup = "/var/lib/fundsync/ledger.sqlite", "/var/lib/fundsync/backup-it.sqlite"
        fork_alarms = (f"SELECT COUNT(*) FROM sync_alarms WHERE peer = '{county}' "
                       f"AND kind = 'fork'")
        alarms_before = int(self.sql(pref, fork_alarms) or 0)

        # 1. Restored from an old backup: it takes back what its parent holds.
        k = self.take_backup(svc, county, ledger, backup)
        for _ in range(10):
            self.pay(county, "3.33")
        c.converged()
        c.compose("stop", svc)
        n, _ = self.stopped_heads(svc, county, pref)
        ensure(n >= k + 10, f"the parent holds {county}@{n}, the backup {county}@{k}")
        self.restore_backup(svc, ledger, backup)
        c.compose("start", svc)
        c.wait_healthy([svc])
        recovered = eventually(f"{county} taking back {county}@{k + 1}..{n}", ARRIVE_S,
                               lambda: (lambda r: r if r >= n - k else None)(
                                   c.link(svc).get("entries_recovered") or 0))
        log(f"restored {county} to seq {k} while 652800 held seq {n}: took back {recovered} entries")
        c.converged()
        self.assert_totals()
        self.pay(county, "1.11")
        c.converged()
        self.assert_totals()
        ensure(int(self.sql(pref, fork_alarms) or 0) == alarms_before,
               f"a fork alarm for {county} at 652800 after a clean restore")

        # 2. Restored, and asked to pay before it reconnects: its
        #    acknowledgement mark (data_dir/acked-own-head, outside the
        #    backup) says its parent holds more, so it refuses (503
        #    ledger_restored) until it has taken its chain back, then pays.
        backup2 = backup.replace(".sqlite", "-2.sqlite")
        k2 = self.take_backup(svc, county, ledger, backup2)
        for _ in range(5):
            self.pay(county, "2.22")
        c.converged()
        c.compose("stop", svc)
        n2, _ = self.stopped_heads(svc, county, pref)
        c.compose("stop", pref)
        try:
            self.restore_backup(svc, ledger, backup2)
            c.compose("start", svc)
            c.wait_healthy([svc])
            restored = c.get(svc, "/api/v1/sync/link").get("restored") or {}
            ensure(restored.get("own_head") == k2 and restored.get("acknowledged") == n2,
                   f"{county} /sync/link restored: {restored}, expected {k2} / {n2}")
            s, v = c.http(svc, "POST", "/api/v1/payments", {
                "voucher_no": self.next_voucher("R"), "paid_on": "2020-05-10", "payer": "县财政局",
                "payee_name": "某某建设公司", "amount": "9.99",
                "allocation": self.alloc[county], "project": "P1"})
            ensure(s == 503 and isinstance(v, dict) and v.get("error") == "ledger_restored",
                   f"a payment at the restored {county}: {s} {v}")
            ensure(c.head_seq(svc, county) == k2, f"{county} recorded while restored")
        finally:
            c.compose("start", pref)
            c.wait_healthy([pref])
        eventually(f"{county}'s refusal lifting once it took back {county}@{k2 + 1}..{n2}",
                   ARRIVE_S, lambda: c.get(svc, "/api/v1/sync/link").get("restored") is None)
        ensure(c.head_seq(svc, county) == n2, f"{county} at {c.head_seq(svc, county)}, expected {n2}")
        self.pay(county, "1.23")
        c.converged()
        self.assert_totals()
        log(f"{county} restored to seq {k2} (652800 held {n2}): refused a payment with "
            f"ledger_restored, took its chain back, paid again")

        # 3. The mark lost too (the whole machine restored), then written to
        #    before it reconnects: the old protection. Refused as a fork
        #    clearly, nothing of it reaches the parent or the region.
        backup3 = backup.replace(".sqlite", "-3.sqlite")
        k3 = self.take_backup(svc, county, ledger, backup3)
        for _ in range(5):
            self.pay(county, "2.22")
        c.converged()
        c.compose("stop", svc)
        n3, n3_hash = self.stopped_heads(svc, county, pref)
        region_before = c.heads("region")[county]
        # Its parent is stopped while it comes back and records a payment,
        # so the payment is made before the county can compare its chain.
        c.compose("stop", pref)
        try:
            self.restore_backup(svc, ledger, backup3)
            c.compose("run", "--rm", "-T", "--no-deps", "--entrypoint", "rm", svc,
                      "-f", "/var/lib/fundsync/acked-own-head")
            c.compose("start", svc)
            c.wait_healthy([svc])
            self.pay(county, "9.99", "R", counted=False)
            ensure(c.head_seq(svc, county) == k3 + 1,
                   f"{county} at {c.head_seq(svc, county)} after the restore and one payment, "
                   f"expected {k3 + 1}")
        finally:
            c.compose("start", pref)
            c.wait_healthy([pref])
        log(f"{county} restored to seq {k3} (652800 holds {n3}) with its mark lost, one payment "
            f"recorded offline, reconnected")
        want = f"diverges from the parent's copy at seq {k3 + 1}"
        err = eventually(f"{county}'s link refusing to push", ARRIVE_S,
                         lambda: (lambda e: e if e and want in e else None)(
                             c.link(svc).get("last_error")))
        log(f"{county} /sync/link last_error: {err}")
        ensure(c.link(svc).get("diverged_at") == k3 + 1, f"{county} link: {c.link(svc)}")
        alarm = eventually(f"a fork alarm at {county} itself", ARRIVE_S,
                           lambda: self.sql(svc, "SELECT kind || ': ' || message FROM sync_alarms "
                                                 "WHERE peer = '652800' AND kind = 'fork'") or None)
        log(f"{county} sync_alarms: {alarm.splitlines()[0]}")
        # Nothing of it was even sent: the parent and the region are unchanged.
        ensure(c.heads(pref)[county] == (n3, n3_hash), f"652800's copy of {county} changed")
        ensure(c.heads("region")[county] == region_before, f"the region's copy of {county} changed")
        ensure(int(self.sql(pref, fork_alarms) or 0) == alarms_before,
               f"652800 saw {county}'s divergent entries")
        ensure(c.head_seq(svc, county) == k3 + 1, f"{county} wrote more of its own accord")
        self.assert_totals([c_ for c_ in COUNTIES if c_ != county])
        at_region = c.paid("region").get(county)
        ensure(at_region == self.expected_paid[county],
               f"the region counts {at_region} paid by {county}, expected {self.expected_paid[county]}")
        self.notes.append(f"restore: {county} restored to seq {k} while 652800 held seq {n} took "
                          f"back {recovered} entries; restored to seq {k2} it refused a payment "
                          f"(ledger_restored) until it took {n2 - k2} back, then paid; restored to "
                          f"seq {k3} with its mark lost and written to offline, it was refused: "
                          f"{err}")


def main():
    project = os.environ.get("FUNDSYNC_IT_PROJECT", f"fundsync-it-{os.getpid()}")
    cluster = Cluster(project, free_port())
    t = Test(cluster)
    started = time.monotonic()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    log(f"project {project}, compose: {' '.join(cluster.compose_cmd)}, region API on "
        f"127.0.0.1:{cluster.port}")
    try:
        for img in (NODE_IMAGE, "fundsync/postgres:15"):
            ensure(run(["docker", "image", "inspect", img], check=False).returncode == 0,
                   f"image {img} is missing: run `bash deploy/images.sh` (tests/containers/run.sh does)")
        t.check("up: seven nodes and PostgreSQL healthy, every link established", t.up)
        t.check("money: region → 652800 → 652822 allocation; payments reach the region once", t.money)
        t.check("restart: a second up and a restart of every node re-initialise nothing", t.restart)
        t.check("partition: 652800 cut off and reconnected; everything converges, counted once",
                t.partition)
        t.check("kill: SIGKILL of county 652822 mid-push of 2000 payments; converges, counted once",
                lambda: t.kill_mid_sync("county-652822", "county-652822", "prefecture-652800", 2000))
        t.check("kill: SIGKILL of the region (PostgreSQL) mid-receive; converges, counted once",
                lambda: t.kill_mid_sync("region", "county-652823", "region", 2000))
        t.check("restore: a restored county takes its entries back; it refuses payments until "
                "it has (ledger_restored); with its mark lost, one written to after the restore "
                "is refused as a fork before it sends anything", t.restore)
    except KeyboardInterrupt as e:
        t.results.append(("interrupted", False, str(e)))
    finally:
        failed = [r for r in t.results if not r[1]]
        if failed:
            try:
                print(cluster.compose("logs", "--no-color", "--tail", "60", timeout=120, check=False),
                      file=sys.stderr)
            except Exception as e:  # noqa: BLE001
                print(f"(no logs: {e})", file=sys.stderr)
        if os.environ.get("FUNDSYNC_IT_KEEP") == "1":
            log(f"FUNDSYNC_IT_KEEP=1: leaving project {project} up; remove it with: "
                f"docker-compose -p {project} down -v")
        else:
            log("tearing down (down -v)")
            cluster.compose("down", "-v", "--remove-orphans", "--timeout", "10",
                            timeout=300, check=False)
    print()
    for note in t.notes:
        print(f"note: {note}")
    for name, ok, msg in t.results:
        print(f"{'PASS' if ok else 'FAIL'}  {name}" + ("" if ok else f"\n      {msg.splitlines()[0] if msg else ''}"))
    passed = sum(1 for r in t.results if r[1])
    failed = len(t.results) - passed
    print(f"({time.monotonic() - started:.0f}s in all)")
    print(f"containers: {passed} passed, {failed} failed")
    return 1 if failed or not t.results else 0


if __name__ == "__main__":
    sys.exit(main())
