#!/usr/bin/env python3
"""fake_provider.py - a local stand-in for Zadarma's API (tests/voip/t20).

usage: fake_provider.py PORT KEY SECRET LOGFILE

Checks `Authorization: KEY:SIGN` exactly as Zadarma computes it (params of
the query sorted by key, PHP http_build_query / urlencode, md5 hex of it,
HMAC-SHA1 hex of METHOD . QUERY . MD5 with SECRET, base64); a wrong or
missing one is 401 {"status":"error","message":"Not authorized"}.

  GET /v1/request/callback/?from=&to=   {"status":"success","from","to","time"}
      (from "999": {"status":"error","message":"Extension 999 not found"})
  GET /v1/pbx/record/request/?pbx_call_id=[&call_id=]
      {"status":"success","link":"http://127.0.0.1:PORT/rec/ID.mp3",
       "lifetime_till":"..."}
  GET /rec/ID.mp3                       deterministic bytes (audio/mpeg)

Modes, by the pbx_call_id (no control file needed, each test its own id):
  notready<N>-...  the first N record requests: {"status":"error",
                   "message":"record not ready"} (HTTP 200)
  err500<N>-...    the first N record requests: HTTP 500
  huge-...         the recording is 4 MiB
  gone-...         /rec/ answers 404 always
Every request is appended to LOGFILE as one JSON line: method, path,
query (dict), auth_ok, status, and for a recording its size and sha256.
"""
import base64
import hashlib
import hmac
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, KEY, SECRET, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
LOCK = threading.Lock()
COUNTS = {}


def php_urlencode(s):
    out = []
    for b in s.encode():
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_."):
            out.append(c)
        elif c == " ":
            out.append("+")
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def zadarma_sign(method, params):
    q = "&".join(php_urlencode(k) + "=" + php_urlencode(v)
                 for k, v in sorted(params.items()))
    md5 = hashlib.md5(q.encode()).hexdigest()
    h = hmac.new(SECRET.encode(), (method + q + md5).encode(),
                 hashlib.sha1).hexdigest()
    return base64.b64encode(h.encode()).decode()


def recording(call_id):
    size = 4 * 1024 * 1024 if call_id.startswith("huge-") else 20000
    seed = hashlib.sha256(call_id.encode()).digest()
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(seed + i.to_bytes(4, "big")).digest()
        i += 1
    return bytes(out[:size])


def count(key):
    with LOCK:
        COUNTS[key] = COUNTS.get(key, 0) + 1
        return COUNTS[key]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, **kw):
        with LOCK, open(LOG, "a") as f:
            f.write(json.dumps(kw) + "\n")

    def answer(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        pairs = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
        query = dict(pairs)
        if path.startswith("/rec/"):
            cid = urllib.parse.unquote(path[5:])
            cid = cid[:-4] if cid.endswith(".mp3") else cid
            if cid.startswith("gone-"):
                self.record(method="GET", path=path, query=query, status=404)
                return self.answer(404, {"status": "error"})
            data = recording(cid)
            self.record(method="GET", path=path, query=query, status=200,
                        size=len(data),
                        sha256=hashlib.sha256(data).hexdigest())
            return self.answer(200, data, "audio/mpeg")
        auth = self.headers.get("Authorization", "")
        want = KEY + ":" + zadarma_sign(path, query)
        auth_ok = hmac.compare_digest(auth.encode(), want.encode())
        # the query must be what was signed: sorted and PHP-encoded
        canon = "&".join(php_urlencode(k) + "=" + php_urlencode(v)
                         for k, v in sorted(query.items()))
        canon_ok = canon == u.query and len(pairs) == len(query)
        status, body = 200, None
        if not auth_ok or not canon_ok:
            status, body = 401, {"status": "error",
                                 "message": "Not authorized"}
        elif path == "/v1/request/callback/":
            if query.get("from") == "999":
                body = {"status": "error",
                        "message": "Extension 999 not found"}
            else:
                body = {"status": "success", "from": query.get("from"),
                        "to": query.get("to"), "time": int(time.time())}
        elif path == "/v1/pbx/record/request/":
            cid = query.get("pbx_call_id", "")
            n = count("rec:" + cid)
            m = re.match(r"(notready|err500)(\d+)-", cid)
            if m and n <= int(m.group(2)):
                if m.group(1) == "err500":
                    status, body = 500, {"status": "error",
                                         "message": "internal error"}
                else:
                    body = {"status": "error", "message": "record not ready"}
            else:
                link = "http://127.0.0.1:%d/rec/%s.mp3" % (
                    PORT, urllib.parse.quote(cid, safe=""))
                body = {"status": "success", "link": link,
                        "lifetime_till": time.strftime(
                            "%Y-%m-%d %H:%M:%S",
                            time.gmtime(time.time() + 1800))}
        else:
            status, body = 404, {"status": "error",
                                 "message": "Method not found"}
        self.record(method="GET", path=path, query=query, auth_ok=auth_ok,
                    canon_ok=canon_ok, status=status)
        self.answer(status, body)


if __name__ == "__main__":
    srv = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    srv.daemon_threads = True
    print("listening", PORT, flush=True)
    srv.serve_forever()
