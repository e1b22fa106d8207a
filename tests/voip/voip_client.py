#!/usr/bin/env python3
"""voip_client.py - the VoIP tests' HTTP client (stdlib only): sends one
Zadarma notification or one generic /voip/events request, signed right or
wrong on purpose, or a flood of signed Zadarma events in parallel.

  voip_client.py zd URL SECRET EVENT K=V... [options]
      POSTs one form-encoded Zadarma notification (fields in the given
      order; values are percent-decoded first, so %FF sends a raw byte).
      The Signature header is the right one for EVENT unless
      --sig VALUE (sent as is), --no-sig, --sign-as EVENT2 (the signature
      string of another event), or --tamper K=V (a field changed after
      signing). Prints "STATUS BODY" (body on one line).
  voip_client.py gen URL SECRET BODY [options]
      POSTs BODY (text; --body-hex HEX instead; huge bodies go through
      curl, which reads an early 413 while still sending) with X-Crmgate-Timestamp (now + --ts-offset)
      and X-Crmgate-Signature (HMAC-SHA256 of "TS.BODY"); --ts VALUE,
      --sig VALUE, --no-ts, --no-sig, --tamper-body TEXT (the body sent
      instead of the one signed). Prints "STATUS BODY".
  voip_client.py flood URL SECRET TAG CALLS THREADS EXT [CALL_START]
      CALLS incoming calls of 5 events each (START, IVR, INTERNAL, ANSWER,
      END answered 42 s), call ids TAG-N, callers +49407NNNNNNN, our line
      +493022334455, call_start CALL_START (default a minute ago in
      $VOIP_TZ, Europe/Berlin), all the
      events shuffled and sent by THREADS threads over keep-alive
      connections; a 5xx or a broken connection is retried (up to 5
      times), as a provider does. Prints "sent N ok N http4xx N failed N
      retries N seconds S".
  voip_client.py json-eq A B
      Exit 0 when A and B are the same JSON value.
"""
import base64
import datetime
import hashlib
import hmac
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse
import zoneinfo

SIGNED = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_IVR": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}


def zd_sign(secret, event, fields):
    text = b"".join(fields.get(k, b"") for k in SIGNED.get(event, ()))
    h = hmac.new(secret.encode(), text, hashlib.sha1).hexdigest()
    return base64.b64encode(h.encode()).decode()


def form(fields):
    return "&".join("%s=%s" % (urllib.parse.quote(k), urllib.parse.quote_from_bytes(v))
                    for k, v in fields.items()).encode()


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30), path


def send(url, body, headers):
    c, path = conn_for(url)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    text = r.read().decode("utf-8", "replace").replace("\r", " ").replace("\n", " ")
    c.close()
    return r.status, text


def opts(argv, flags):
    """Splits argv into positional args and {option: value}."""
    pos, o, i = [], {}, 0
    while i < len(argv):
        a = argv[i]
        if a in flags:
            if flags[a]:
                o.setdefault(a, []).append(argv[i + 1])
                i += 2
            else:
                o[a] = [True]
                i += 1
        else:
            pos.append(a)
            i += 1
    return pos, o


def cmd_zd(argv):
    pos, o = opts(argv, {"--sig": 1, "--no-sig": 0, "--sign-as": 1, "--tamper": 1,
                         "--secret2": 1})
    url, secret, event = pos[0], pos[1], pos[2]
    fields = {"event": event.encode()}
    for kv in pos[3:]:
        k, v = kv.split("=", 1)
        fields[k] = urllib.parse.unquote_to_bytes(v)
    sig = zd_sign(o.get("--secret2", [secret])[0], o.get("--sign-as", [event])[0], fields)
    for kv in o.get("--tamper", []):
        k, v = kv.split("=", 1)
        fields[k] = urllib.parse.unquote_to_bytes(v)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if "--sig" in o:
        headers["Signature"] = o["--sig"][0]
    elif "--no-sig" not in o:
        headers["Signature"] = sig
    status, text = send(url, form(fields), headers)
    print(status, text)


def cmd_gen(argv):
    pos, o = opts(argv, {"--ts": 1, "--ts-offset": 1, "--sig": 1, "--no-ts": 0,
                         "--no-sig": 0, "--tamper-body": 1, "--body-hex": 1})
    url, secret = pos[0], pos[1]
    if "--body-hex" in o:
        body = bytes.fromhex(o["--body-hex"][0])
    else:
        body = pos[2].encode()
    ts = o.get("--ts", [str(int(time.time()) + int(o.get("--ts-offset", ["0"])[0]))])[0]
    sig = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json"}
    if "--no-ts" not in o:
        headers["X-Crmgate-Timestamp"] = ts
    if "--sig" in o:
        headers["X-Crmgate-Signature"] = o["--sig"][0]
    elif "--no-sig" not in o:
        headers["X-Crmgate-Signature"] = sig
    if "--tamper-body" in o:
        body = o["--tamper-body"][0].encode()
    status, text = send(url, body, headers)
    print(status, text)


def cmd_flood(argv):
    url, secret, tag, calls, threads, ext = argv[0], argv[1], argv[2], int(argv[3]), \
        int(argv[4]), argv[5]
    # call_start in the PBX's zone (voip.zadarma_timezone of the test config)
    zone = zoneinfo.ZoneInfo(os.environ.get("VOIP_TZ", "Europe/Berlin"))
    start = argv[6] if len(argv) > 6 else (
        datetime.datetime.now(zone) - datetime.timedelta(seconds=60)).strftime(
            "%Y-%m-%d %H:%M:%S")
    did = b"+493022334455"
    reqs = []
    for n in range(calls):
        cid = ("%s-%d" % (tag, n)).encode()
        caller = ("+49407%07d" % n).encode()
        base = {"call_start": start.encode(), "pbx_call_id": cid, "caller_id": caller,
                "called_did": did}
        evs = [("NOTIFY_START", dict(base)), ("NOTIFY_IVR", dict(base)),
               ("NOTIFY_INTERNAL", dict(base, internal=ext.encode())),
               ("NOTIFY_ANSWER", {"caller_id": caller, "destination": ext.encode(),
                                  "call_start": start.encode(), "pbx_call_id": cid,
                                  "internal": ext.encode()}),
               ("NOTIFY_END", dict(base, internal=ext.encode(), duration=b"42",
                                   disposition=b"answered", status_code=b"16",
                                   is_recorded=b"0", call_id_with_rec=b""))]
        for event, f in evs:
            f = dict({"event": event.encode()}, **f)
            reqs.append((form(f), zd_sign(secret, event, f)))
    random.shuffle(reqs)
    lock = threading.Lock()
    stats = {"ok": 0, "http4xx": 0, "failed": 0, "retries": 0}
    it = iter(reqs)

    def worker():
        c, path = conn_for(url)
        while True:
            with lock:
                item = next(it, None)
            if item is None:
                break
            body, sig = item
            result = "failed"
            for attempt in range(6):
                try:
                    c.request("POST", path, body=body, headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Signature": sig})
                    r = c.getresponse()
                    r.read()
                    if r.getheader("Connection", "").lower() == "close":
                        c.close()
                    if 200 <= r.status <= 299:
                        result = "ok"
                        break
                    if 400 <= r.status <= 499:
                        result = "http4xx"
                        break
                except (OSError, http.client.HTTPException):
                    c.close()
                    c, path = conn_for(url)
                with lock:
                    stats["retries"] += 1
                time.sleep(0.05 * (attempt + 1))
            with lock:
                stats[result] += 1
        c.close()

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("sent %d ok %d http4xx %d failed %d retries %d seconds %.1f" % (
        len(reqs), stats["ok"], stats["http4xx"], stats["failed"], stats["retries"],
        time.time() - t0))


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "zd":
        cmd_zd(argv)
    elif cmd == "gen":
        cmd_gen(argv)
    elif cmd == "flood":
        cmd_flood(argv)
    elif cmd == "json-eq":
        try:
            return 0 if json.loads(argv[0]) == json.loads(argv[1]) else 1
        except ValueError:
            return 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
