#!/usr/bin/env python3
"""gen_ingest.py DIR [COUNT [TAG]] - the benchmark's ingest corpus.

Writes COUNT (default 10000) realistic messages DIR/00001.eml ... with a
fixed random seed, so every run ingests the same bytes:

  * distinct Message-IDs and Dates, CRLF line ends, 4-20 KB each;
  * From external parties: 70 % known contacts of tests/bench/seed.sql
    (contactN@acmeM.test), 15 % unknown people at known company domains,
    15 % free-mail senders (gmail.com, ...), a few of them to the sales
    inbox (sales@example.com: lead + request);
  * To one internal user (userN@example.com), sometimes Cc a second one;
  * 30 % replies (In-Reply-To and References to an earlier message);
  * 40 % multipart/alternative with an HTML part, 10 % with a small
    attachment (base64), the rest text/plain.

TAG (default "main") seeds the generator and goes into every Message-ID,
so a warm-up corpus made with another TAG shares no message with the main
one. DIR/.stamp records COUNT, TAG and the generator's version; run.sh
regenerates only when it differs. Dot files are skipped by `crmgate ingest`.
"""
import base64
import email.utils
import os
import random
import sys

VERSION = "3"

SYLL = ["ka", "lo", "mi", "ne", "ru", "sta", "ven", "tor", "pli", "qua", "dem",
        "bar", "cen", "dol", "fix", "gra", "hum", "jet", "lux", "mor", "nix",
        "par", "rex", "sol", "tam", "ul", "vor", "wen", "xi", "yo", "zed"]
FREEMAIL = ["gmail.com", "yahoo.com", "outlook.com", "mail.ru", "gmx.de"]
TOPICS = ["quote", "invoice", "delivery", "meeting", "contract", "proposal",
          "order", "support", "renewal", "pricing", "samples", "schedule"]


def word(rnd):
    return "".join(rnd.choice(SYLL) for _ in range(rnd.randint(1, 4)))


def paragraph(rnd, nbytes):
    out, n = [], 0
    while n < nbytes:
        w = word(rnd)
        out.append(w)
        n += len(w) + 1
    text = " ".join(out)
    # wrap at ~72 columns
    lines, cur = [], ""
    for w in text.split(" "):
        if len(cur) + len(w) + 1 > 72:
            lines.append(cur)
            cur = w
        else:
            cur = (cur + " " + w).strip()
    lines.append(cur)
    return "\r\n".join(lines)


def body_text(rnd, size):
    paras, n = [], 0
    while n < size:
        p = paragraph(rnd, rnd.randint(200, 900))
        paras.append(p)
        n += len(p) + 4
    return "\r\n\r\n".join(paras) + "\r\n"


def html_of(text):
    paras = text.strip().split("\r\n\r\n")
    return ("<html><body>\r\n" +
            "\r\n".join("<p>" + p.replace("\r\n", " ") + "</p>" for p in paras) +
            "\r\n</body></html>\r\n")


def sender(rnd, i):
    r = rnd.random()
    if r < 0.70:
        c = rnd.randint(1, 2000)
        return ("First%d Last%d" % (c, c), "contact%d@acme%d.test" % (c, c % 200 + 1))
    if r < 0.85:
        d = rnd.randint(1, 200)
        return ("New Person %d" % i, "person%d@acme%d.test" % (i, d))
    return ("Free Mailer %d" % i, "fm%d@%s" % (i, rnd.choice(FREEMAIL)))


def main():
    if len(sys.argv) not in (2, 3, 4):
        sys.exit("usage: gen_ingest.py DIR [COUNT [TAG]]")
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) >= 3 else 10000
    tag = sys.argv[3] if len(sys.argv) == 4 else "main"
    stamp = os.path.join(out, ".stamp")
    want = "version=%s count=%d tag=%s\n" % (VERSION, count, tag)
    try:
        with open(stamp) as f:
            if f.read() == want:
                print("# ingest corpus %s up to date (%d messages)"
                      % (out, count))
                return
    except OSError:
        pass
    os.makedirs(out, exist_ok=True)
    for name in os.listdir(out):
        if name.endswith(".eml") or name == ".stamp":
            os.unlink(os.path.join(out, name))
    rnd = random.Random("20240601-" + tag)
    base_ts = 1714000000
    ids = []
    total = 0
    for i in range(1, count + 1):
        name, addr = sender(rnd, i)
        if rnd.random() < 0.03 and addr.startswith("fm"):
            to = ["sales@example.com"]
        else:
            to = ["user%d@example.com" % rnd.randint(1, 20)]
        cc = ["user%d@example.com" % rnd.randint(1, 20)] if rnd.random() < 0.25 else []
        mid = "%s%d.%08x@bench.%s" % (tag, i, rnd.getrandbits(32),
                                      addr.split("@")[1])
        subject = "%s %s #%d" % (rnd.choice(TOPICS).capitalize(), word(rnd), i)
        hdr = [
            "Return-Path: <%s>" % addr,
            "Received: from mx.%s (mx.%s [192.0.2.%d]) by mx.example.com "
            "with ESMTPS id %08X; %s" % (addr.split("@")[1], addr.split("@")[1],
                                        i % 250 + 1, rnd.getrandbits(32),
                                        email.utils.formatdate(base_ts + i * 60)),
            "From: \"%s\" <%s>" % (name, addr),
            "To: " + ", ".join(to),
        ]
        if cc:
            hdr.append("Cc: " + ", ".join(cc))
        if ids and rnd.random() < 0.30:
            parent = rnd.choice(ids[-500:])
            hdr.append("Subject: Re: " + subject)
            hdr.append("In-Reply-To: <%s>" % parent)
            hdr.append("References: <%s>" % parent)
        else:
            hdr.append("Subject: " + subject)
        hdr += [
            "Date: " + email.utils.formatdate(base_ts + i * 60),
            "Message-ID: <%s>" % mid,
            "MIME-Version: 1.0",
            "X-Mailer: bench-gen/%s" % VERSION,
        ]
        size = rnd.randint(3500, 17000)
        kind = rnd.random()
        if kind < 0.10:
            text = body_text(rnd, size // 2)
            blob = rnd.randbytes(rnd.randint(1500, size // 2))
            b64 = base64.encodebytes(blob).decode().replace("\n", "\r\n")
            bnd = "=_att_%d" % i
            hdr.append('Content-Type: multipart/mixed; boundary="%s"' % bnd)
            body = ("This is a multi-part message in MIME format.\r\n\r\n"
                    "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
                    "--%s\r\nContent-Type: application/pdf; name=\"doc%d.pdf\"\r\n"
                    "Content-Disposition: attachment; filename=\"doc%d.pdf\"\r\n"
                    "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n--%s--\r\n"
                    % (bnd, text, bnd, i, i, b64, bnd))
        elif kind < 0.50:
            text = body_text(rnd, size // 2)
            bnd = "=_alt_%d" % i
            hdr.append('Content-Type: multipart/alternative; boundary="%s"' % bnd)
            body = ("--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n"
                    "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n\r\n%s\r\n--%s--\r\n"
                    % (bnd, text, bnd, html_of(text), bnd))
        else:
            hdr.append("Content-Type: text/plain; charset=utf-8")
            hdr.append("Content-Transfer-Encoding: 8bit")
            body = body_text(rnd, size)
        data = ("\r\n".join(hdr) + "\r\n\r\n" + body).encode()
        total += len(data)
        with open(os.path.join(out, "%05d.eml" % i), "wb") as f:
            f.write(data)
        ids.append(mid)
    with open(stamp, "w") as f:
        f.write(want)
    print("# ingest corpus: %d messages, %.1f MB, mean %.1f KB in %s"
          % (count, total / 1e6, total / count / 1024, out))


if __name__ == "__main__":
    main()
