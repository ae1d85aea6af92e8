#!/usr/bin/env python3
"""The console in a real browser: Debian's headless Chromium driven by playwright.

Starts `mamori serve` (MAMORI_BIN) on a free loopback port with a fresh data directory, seeds it
through the real API and CLI with data whose fields carry script payloads, then:

- signs in, visits every page, and checks the numbers on screen against the API;
- archives a finding, creates and revokes an API key, signs out;
- a reader's session shows no write button and a forged POST changes nothing;
- a member account's session sees nothing of the management account's;
- no payload runs anywhere (alert dialogs, console errors and CSP violations are recorded);
- screenshots of the main pages go to docs/ (MAMORI_SCREENSHOTS=1).

Exits non-zero on the first failed check, naming it.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MAMORI_BIN") or str(
    Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "mamori"
)
CHROMIUM = os.environ.get("MAMORI_CHROMIUM", "/usr/bin/chromium")
TESTDATA = ROOT / "crates" / "cli" / "tests" / "testdata"

# Script payloads: tags, attribute breakers, javascript: URLs, SVG onload, template injection.
XSS = [
    "<script>alert('xss-script')</script>",
    "\"><img src=x onerror=alert('xss-img')>",
    "'><svg onload=alert('xss-svg')>",
    "javascript:alert('xss-url')",
    "{{constructor.constructor('alert(1)')()}}",
    "</textarea><iframe srcdoc=\"<script>alert('xss-frame')</script>\">",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def call(self, method, path, body=None, key=None, account=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + (key or self.key))
        req.add_header("Content-Type", "application/json")
        if account:
            req.add_header("x-mamori-account", account)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read().decode()
                return r.status, (json.loads(text) if text.strip() else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, (json.loads(text) if text.strip() else None)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("  ok:", what)


def record(event_id, name, user, ip, when, extra=None):
    r = {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE" + user[:6].encode().hex().upper(),
            "arn": "arn:aws:iam::111122223333:user/" + user,
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE000000001",
            "userName": user,
        },
        "eventTime": when,
        "eventSource": "cloudtrail.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": XSS[len(event_id) % len(XSS)],
        "requestParameters": {"name": XSS[1], "note": XSS[4]},
        "responseElements": None,
        "requestID": "req-" + event_id,
        "eventID": event_id,
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
        "resources": [{"type": "AWS::CloudTrail::Trail", "ARN": XSS[3]}],
    }
    if extra:
        r.update(extra)
    return r


def seed(api, data_dir, work):
    """Findings, events, a scanned inventory and advisories, every text field hostile."""
    st, _ = api.call("POST", "/v1/guard/detector", {"enabled": True})
    check(st == 200, "detection enabled through the API")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events = [
        record("e-%03d" % i, name, user, ip, now)
        for i, (name, user, ip) in enumerate(
            [
                ("StopLogging", "mallory" + XSS[0], "198.51.100.7"),
                ("DeleteTrail", "mallory" + XSS[2], "198.51.100.8"),
                ("ListBuckets", "alice", "203.0.113.5"),
                ("PutBucketPolicy", XSS[5], "198.51.100.9"),
            ]
        )
    ]
    st, body = api.call("POST", "/v1/trail/events", events)
    check(st == 200 and body["accepted"] == len(events), "hostile events accepted by the API")
    # Detection runs on its own loop: wait for the findings.
    for _ in range(100):
        st, body = api.call("GET", "/v1/guard/findings")
        if st == 200 and len(body["findings"]) >= 3:
            break
        time.sleep(0.1)
    check(len(body["findings"]) >= 3, "findings detected from the hostile events")

    # Advisories with markup in their text and a javascript: reference, then a scan.
    adv = Path(work) / "advisories"
    adv.mkdir()
    for f in (TESTDATA / "scan" / "advisories").iterdir():
        shutil.copy(f, adv)
    (adv / "MAMORI-TEST-XSS.json").write_text(
        json.dumps(
            {
                "schema_version": "1.6.0",
                "id": "MAMORI-TEST-XSS",
                "modified": "2026-10-03T00:00:00Z",
                "summary": XSS[0],
                "details": XSS[1] + XSS[2],
                "affected": [
                    {
                        "package": {"ecosystem": "npm", "name": "evil-pkg"},
                        "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "9.9.9"}]}],
                    }
                ],
                "references": [{"type": "WEB", "url": "javascript:alert('xss-ref')"}],
            }
        )
    )
    out = subprocess.run(
        [BIN, "inspect", "db", "import", "--db", str(Path(data_dir) / "advisories.db"), str(adv)],
        capture_output=True,
        text=True,
    )
    check(out.returncode == 0, "advisories imported: " + out.stderr.strip()[:200])
    target = Path(work) / "app"
    target.mkdir()
    (target / "package-lock.json").write_text(
        json.dumps(
            {
                "name": "app",
                "lockfileVersion": 3,
                "packages": {
                    "": {"name": "app", "version": "1.0.0"},
                    "node_modules/evil-pkg": {"version": "1.0.0"},
                    "node_modules/tiny-template": {"version": "3.1.4"},
                },
            }
        )
    )
    # The server notices the new advisory database within seconds; the scan is matched now.
    time.sleep(3)
    out = subprocess.run(
        [BIN, "inspect", "scan", str(target), "--resource-id", "host-" + XSS[1], "--endpoint", api.base],
        capture_output=True,
        text=True,
        env={**os.environ, "MAMORI_KEY": api.key},
    )
    check(out.returncode == 0, "inventory recorded on the server: " + out.stderr.strip()[:300])


def main():
    work = tempfile.mkdtemp(prefix="mamori-console-")
    data_dir = Path(work) / "data"
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    log = open(Path(work) / "serve.log", "w")
    server = subprocess.Popen(
        [BIN, "serve", "--data-dir", str(data_dir), "--listen", "127.0.0.1:%d" % port],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=work,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        key = (data_dir / "admin.key").read_text().strip() if (data_dir / "admin.key").exists() else None
        if key is None:
            text = Path(work, "serve.log").read_text()
            key = re.search(r"\b([A-Z0-9]{20}\.[A-Za-z0-9_-]{20,})\b", text).group(1)
        api = Api(base, key)
        print("== seeding")
        seed(api, data_dir, work)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            run(browser, api, base)
            browser.close()
        print("console browser suite: all checks passed")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


class Watch:
    """Everything in a page that would mean a payload ran or the policy was hit."""

    def __init__(self, page):
        self.alerts, self.errors, self.page = [], [], page
        page.on("dialog", self.dialog)
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.add_init_script(
            "window.__csp = []; document.addEventListener('securitypolicyviolation',"
            " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

    def dialog(self, d):
        if d.type == "confirm":
            d.accept()  # our own "Delete …?" questions
        else:
            self.alerts.append(d.message)
            d.dismiss()

    def assert_clean(self, where):
        csp = self.page.evaluate("window.__csp || []")
        check(not self.alerts, "no script ran on %s (alerts: %s)" % (where, self.alerts))
        check(not csp, "no CSP violation on %s (%s)" % (where, csp))
        check(not self.errors, "no console error on %s (%s)" % (where, self.errors))


def sign_in(browser, base, key):
    ctx = browser.new_context()
    page = ctx.new_page()
    watch = Watch(page)
    page.goto(base + "/")
    check("/signin" in page.url, "an anonymous visit is sent to sign-in")
    page.fill("input[name=key]", key)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")
    return ctx, page, watch


PAGES = [
    "/",
    "/threats",
    "/threats?archived=all",
    "/threats/rules",
    "/threats?scope=organization",
    "/vulnerabilities",
    "/vulnerabilities/findings",
    "/vulnerabilities/coverage",
    "/vulnerabilities/rules",
    "/events",
    "/events?key=Username&value=alice",
    "/trails",
    "/organization",
]


def run(browser, api, base):
    shots = os.environ.get("MAMORI_SCREENSHOTS") == "1"
    print("== admin session")
    ctx, page, watch = sign_in(browser, base, api.key)
    cookie = [c for c in ctx.cookies() if c["name"] == "mamori_session"][0]
    check(cookie["httpOnly"] and cookie["sameSite"] == "Strict", "the session cookie is HttpOnly and SameSite=Strict")
    for path in PAGES:
        r = page.goto(base + path)
        check(r.status == 200, "%s answers 200" % path)
        check("content-security-policy" in r.headers, "%s carries a CSP" % path)
        watch.assert_clean(path)

    # Findings on screen match the API.
    _, g = api.call("GET", "/v1/guard/findings")
    page.goto(base + "/threats")
    rows = page.locator("table.list tbody tr").count()
    check(rows == len(g["findings"]), "threat findings listed = API's (%d)" % rows)
    page.goto(base + "/")
    tiles = sum(int(t) for t in page.locator("a.tile[href^='/threats'] .n").all_inner_texts())
    check(tiles == len(g["findings"]), "overview severity tiles add up to the API's findings (%d)" % tiles)
    _, stats = api.call("GET", "/v1/inspect/stats")
    active = sum(stats["activeBySeverity"].values())
    page.goto(base + "/vulnerabilities/findings")
    rows = page.locator("table.list tbody tr").count()
    check(rows == active and active >= 2, "vulnerability findings listed = API's active (%d)" % rows)
    _, ev = api.call("GET", "/v1/trail/events?maxResults=50")
    page.goto(base + "/events")
    rows = page.locator("table.list tbody tr").count()
    check(rows == len(ev["events"]), "events listed = LookupEvents' first page (%d)" % rows)
    # The javascript: reference is text, not a link.
    page.goto(base + "/vulnerabilities/findings?vulnerability=MAMORI-TEST-XSS")
    page.click("table.list tbody tr a")
    check(page.locator("a[href^='javascript']").count() == 0, "no javascript: link anywhere on a finding")
    watch.assert_clean("a hostile finding's detail")

    if shots:
        for name, path in [
            ("overview", "/"),
            ("threats", "/threats"),
            ("vulnerabilities", "/vulnerabilities"),
            ("events", "/events"),
        ]:
            page.set_viewport_size({"width": 1360, "height": 900})
            page.goto(base + path)
            page.screenshot(path=str(ROOT / "docs" / ("console-%s.png" % name)), full_page=False)

    # Archive a finding from its page; the API sees it archived.
    fid = g["findings"][0]["id"]
    page.goto(base + "/threats/finding/" + fid)
    watch.assert_clean("a finding's detail")
    page.click("form[action$='/archive'] button")
    page.wait_for_load_state()
    _, f = api.call("GET", "/v1/guard/findings/" + fid)
    check(f["service"]["archived"] is True, "archiving in the console archives through the service")
    _, audit = api.call("GET", "/v1/trail/events?EventName=ArchiveFindings")
    check(len(audit["events"]) == 1, "the console's archive is audited as ArchiveFindings")

    # A suppression rule for vulnerabilities: the finding it matches becomes SUPPRESSED.
    page.goto(base + "/vulnerabilities/rules")
    page.fill("form[action='/vulnerabilities/rules'] input[name=name]", "accept-" + XSS[0][:20])
    page.fill("form[action='/vulnerabilities/rules'] input[name=package]", "tiny-template")
    page.click("form[action='/vulnerabilities/rules'] button[type=submit]")
    watch.assert_clean("the new vulnerability rule")
    _, sup = api.call("GET", "/v1/inspect/findings?status=SUPPRESSED")
    check(
        [f["packageVulnerabilityDetails"]["vulnerablePackages"][0]["name"] for f in sup["findings"]] == ["tiny-template"],
        "the console's rule suppresses exactly the matching finding",
    )
    # A threat suppression rule: preview counts, saving archives.
    page.goto(base + "/threats/rules")
    page.fill("form[action='/threats/rules'] input[name=name]", "quiet-" + "x")
    page.fill("form[action='/threats/rules'] input[name=field1]", "type")
    page.fill("form[action='/threats/rules'] input[name=value1]", g["findings"][-1]["type"])
    page.click("form[action='/threats/rules'] button[name=preview]")
    check("Preview: this rule matches" in page.content(), "a threat rule's preview counts the findings it would match")
    _, fl = api.call("GET", "/v1/guard/filters")
    check(fl["filters"] == [], "and the preview saved nothing")

    # Create a trail, then stop its logging; the API agrees, and a hostile destination is refused.
    page.goto(base + "/trails")
    page.fill("form[action='/trails'] input[name=name]", "console-trail")
    page.fill("form[action='/trails'] input[name=destination]", "console-trail")
    page.click("form[action='/trails'] button[type=submit]")
    check("Created trail" in page.content(), "a trail created in the console")
    _, tl = api.call("GET", "/v1/trail/trails")
    check([t["name"] for t in tl["trails"]] == ["console-trail"], "the API lists the console's trail")
    page.click("form[action='/trails/console-trail/stop'] button")
    page.wait_for_load_state()
    _, ts = api.call("GET", "/v1/trail/trails/console-trail")
    check(ts["status"]["isLogging"] is False, "stopping logging in the console stops the trail")
    page.fill("form[action='/trails'] input[name=name]", "escape")
    page.fill("form[action='/trails'] input[name=destination]", "../../etc")
    page.click("form[action='/trails'] button[type=submit]")
    check(page.locator("p.error").count() == 1, "a destination outside the walls is refused with a message")
    watch.assert_clean("trails")

    # Create a key (secret shown once), then revoke it.
    page.goto(base + "/organization")
    page.fill("form[action='/organization/keys'] input[name=name]", "ci-" + XSS[2])
    page.select_option("form[action='/organization/keys'] select[name=role]", "reader")
    page.click("form[action='/organization/keys'] button")
    secret = page.locator("#new-secret").inner_text().strip()
    st, who = api.call("GET", "/v1/org/whoami", key=secret)
    check(st == 200 and who["role"] == "reader", "the key created in the console works")
    watch.assert_clean("the new key's page")
    page.goto(base + "/organization")
    check(secret not in page.content(), "the secret is not shown again")

    print("== reader session")
    rctx, rpage, rwatch = sign_in(browser, base, secret)
    for path in PAGES:
        rpage.goto(base + path)
        rwatch.assert_clean("reader " + path)
    rpage.goto(base + "/threats/finding/" + g["findings"][1]["id"])
    check(rpage.locator("form[action$='/archive'], form[action$='/unarchive']").count() == 0, "a reader sees no archive button")
    csrf = rpage.locator("input[name=csrf]").first.get_attribute("value")
    forged = rctx.request.post(
        base + "/threats/finding/%s/archive" % g["findings"][1]["id"],
        form={"csrf": csrf},
        headers={"Origin": base},
    )
    check(forged.status == 403, "a reader's forged archive is refused (%d)" % forged.status)
    _, f2 = api.call("GET", "/v1/guard/findings/" + g["findings"][1]["id"])
    check(f2["service"]["archived"] is False, "and the finding is unchanged")
    no_csrf = ctx.request.post(base + "/threats/finding/%s/archive" % g["findings"][1]["id"], form={"csrf": "x"})
    check(no_csrf.status == 403, "an admin's POST without the session's CSRF token is refused")
    cross = ctx.request.post(
        base + "/threats/finding/%s/archive" % g["findings"][1]["id"],
        form={"csrf": page.locator("input[name=csrf]").first.get_attribute("value")},
        headers={"Origin": "https://evil.example"},
    )
    check(cross.status == 403, "a POST from another origin is refused")
    rctx.close()

    # Revoke the reader key from the console: its session ends.
    page.goto(base + "/organization")
    row = page.locator("tr", has=page.locator("td", has_text=who["keyId"]))
    row.locator("form button").click()
    page.wait_for_load_state()
    st, _ = api.call("GET", "/v1/org/whoami", key=secret)
    check(st == 401, "revoking in the console revokes the key")

    print("== member account session")
    st, acct = api.call("POST", "/v1/org/accounts", {"name": "member " + XSS[0]})
    check(st == 201, "a member account created")
    member = acct["id"] if "id" in acct else acct["accountId"]
    st, mk = api.call("POST", "/v1/org/keys", {"name": "member-admin", "role": "admin"}, account=member)
    check(st == 201, "a key of the member account")
    mctx, mpage, mwatch = sign_in(browser, base, mk["secret"])
    mpage.goto(base + "/threats")
    check(mpage.locator("table.list tbody tr").count() == 0, "the member sees none of the management account's findings")
    r = mpage.goto(base + "/threats/finding/" + fid)
    check(r.status == 404, "a management finding's page is not found for the member")
    r = mpage.goto(base + "/threats?scope=organization")
    check(r.status == 403, "a member account cannot ask for every account's findings")
    mwatch.errors.clear()  # the browser logs the 404 and 403 just asked for
    mpage.goto(base + "/events")
    check("mallory" not in mpage.content(), "the member's event history holds none of the management account's events")
    mpage.goto(base + "/vulnerabilities/findings")
    check(mpage.locator("table.list tbody tr").count() == 0, "the member sees no vulnerability of the management account")
    mwatch.assert_clean("member pages")
    mctx.close()

    print("== sign out")
    page.goto(base + "/")
    page.click("form[action='/signout'] button")
    page.wait_for_url(re.compile(r".*/signin$"))
    page.goto(base + "/threats")
    check("/signin" in page.url, "after sign-out the console asks to sign in again")
    old = ctx.request.get(base + "/threats", max_redirects=0)
    check(old.status == 303, "the old session cookie is worthless")
    watch.assert_clean("sign-out")
    ctx.close()


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAILED:", e)
        sys.exit(1)
