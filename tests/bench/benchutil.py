#!/usr/bin/env python3
"""benchutil.py - measuring helpers of tests/bench/run.sh.

  benchutil.py cpu-snap OUT NAME=PID... [NAME=exe:PREFIX...]
      CPU ticks used so far by each process tree (the process, its live
      descendants, and its reaped children via cutime/cstime), and by the
      other live processes whose executable lies under PREFIX, plus the
      whole machine's busy/idle ticks from /proc/stat, as JSON in OUT.
  benchutil.py cpu-diff A B MESSAGES [TREE:FIGURE,...]
      Prints "# cpu ..." lines: seconds and ms/message per tree between two
      snapshots, the machine's busy share, and what other programs used;
      and for each TREE:FIGURE a line "bench: FIGURE MS ms" (CPU ms of that
      tree per message; TREE may be A+B, the sum).
  benchutil.py probe HOST PORT OUT INTERVAL_MS SIZE FROM TO TAG
      Until OUT.stop exists: every INTERVAL_MS one message of about SIZE
      bytes (Message-ID <probe-TAG-PID-N@bench.acme4.test>) over a new SMTP
      connection; one line "MESSAGE-ID SENT ACCEPTED" (epoch seconds; the
      time the 250 to the end of DATA arrived) per message in OUT.
  benchutil.py probe-stats OUT DB
      Latency from ACCEPTED (OUT) to the capture's commit time (DB: lines
      "MESSAGE-ID EPOCH COMMIT_TS_KNOWN" from PostgreSQL): p50, p99, max in
      ms, and how many probes have no capture.
  benchutil.py rss PID OUT
      Samples VmRSS of PID every 0.1 s and keeps the maximum (kB) in OUT,
      until PID exits or OUT.stop exists.
  benchutil.py eom LOG FIRST_LINE
      From the crmgate-milter log, lines from FIRST_LINE (1-based) on: the
      eom_ms distribution and the outcome counts of the capture lines.
  benchutil.py free-port BASE
      BASE, or the next of the 49 ports above it that nobody listens on
      (other stacks share this machine); exits 1 when none is free.
  benchutil.py busy SECONDS
      How busy the machine is before the benchmark: the busy share over
      SECONDS and the processes that used the most CPU (other people's
      programs on a shared machine skew every figure).
  benchutil.py big-message OUT BYTES
      A multipart message of about BYTES with one base64 attachment of
      random data (LF line ends, for smtp-source -F).
"""
import json
import os
import socket
import re
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def read_stat(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read().decode("ascii", "replace")
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # fields after the comm: state(3) ppid(4) ... utime(14) stime(15)
    # cutime(16) cstime(17); rest[0] is field 3.
    return {"ppid": int(rest[1]), "ticks": sum(int(x) for x in rest[11:15])}


def all_procs():
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = read_stat(int(d))
            if st:
                procs[int(d)] = st
    return procs


def tree_pids(procs, root):
    if root not in procs:
        return set()
    children = {}
    for pid, st in procs.items():
        children.setdefault(st["ppid"], []).append(pid)
    seen, todo = set(), [root]
    while todo:
        p = todo.pop()
        seen.add(p)
        todo.extend(children.get(p, []))
    return seen


def tree_ticks(procs, root):
    return sum(procs[p]["ticks"] for p in tree_pids(procs, root))


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def machine():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return {"busy": sum(v[:8]) - idle, "idle": idle}


def cpu_snap(out, specs):
    procs = all_procs()
    snap = {"time": time.time(), "machine": machine(), "trees": {}}
    counted = set()
    by_exe = []
    for spec in specs:
        name, pid = spec.split("=", 1)
        if pid.isdigit():
            pids = tree_pids(procs, int(pid))
            counted |= pids
            snap["trees"][name] = sum(procs[p]["ticks"] for p in pids)
        elif pid.startswith("exe:"):
            by_exe.append((name, pid[4:]))
    # NAME=exe:PREFIX: every other process whose executable lies under
    # PREFIX (e.g. an ingest process the milter does not parent), outside
    # the trees above; exited ones are not seen, hence trees first.
    for name, prefix in by_exe:
        snap["trees"][name] = sum(
            st["ticks"] for pid, st in procs.items()
            if pid not in counted and exe_of(pid).startswith(prefix))
    with open(out, "w") as f:
        json.dump(snap, f)


def cpu_diff(a_path, b_path, messages, figs=""):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    wall = b["time"] - a["time"]
    busy = (b["machine"]["busy"] - a["machine"]["busy"]) / HZ
    idle = (b["machine"]["idle"] - a["machine"]["idle"]) / HZ
    ncpu = os.cpu_count() or 1
    parts, ours, per_msg = [], 0.0, {}
    for name, t1 in b["trees"].items():
        t0 = a["trees"].get(name)
        if t0 is None:
            continue
        secs = (t1 - t0) / HZ
        ours += secs
        per = " %.3f ms/msg" % (secs * 1000 / messages) if messages else ""
        parts.append("%s %.2f s%s" % (name, secs, per))
        per_msg[name] = secs * 1000 / messages if messages else float("nan")
    print("# cpu over %.1f s wall: %s" % (wall, "; ".join(parts)))
    print("# cpu machine: busy %.1f s of %.1f s available (%d cores, %.0f%%), "
          "idle %.1f s; not in the trees above: %.1f s"
          % (busy, wall * ncpu, ncpu, 100 * busy / max(wall * ncpu, 1e-9),
             idle, max(busy - ours, 0.0)))
    for spec in filter(None, figs.split(",")):
        tree, fig = spec.split(":", 1)
        val = sum(per_msg.get(t, float("nan")) for t in tree.split("+"))
        print("bench: %s %.3f ms" % (fig, val))


def probe(host, port, out, interval_ms, size, mfrom, rcpt, tag):
    import smtplib
    body = ("Probe message: the bench measures how long after the end of "
            "DATA its capture is committed.\r\n") * max(size // 90, 1)
    stop = out + ".stop"
    n = 0
    period = interval_ms / 1000.0
    nxt = time.time()
    with open(out, "w") as f:
        while not os.path.exists(stop):
            n += 1
            mid = "probe-%s-%d-%d@bench.acme4.test" % (tag, os.getpid(), n)
            msg = ("From: <%s>\r\nTo: <%s>\r\nSubject: latency probe %d\r\n"
                   "Date: %s\r\nMessage-ID: <%s>\r\n\r\n%s"
                   % (mfrom, rcpt, n,
                      time.strftime("%a, %d %b %Y %H:%M:%S +0000",
                                    time.gmtime()), mid, body))
            t0 = time.time()
            try:
                s = smtplib.SMTP(host, int(port), timeout=60)
                s.sendmail(mfrom, [rcpt], msg.encode())
                t1 = time.time()
                s.quit()
                f.write("%s %.6f %.6f\n" % (mid, t0, t1))
            except (OSError, smtplib.SMTPException) as e:
                f.write("# error %s: %s\n" % (mid, e))
            f.flush()
            nxt += period
            delay = nxt - time.time()
            if delay > 0:
                time.sleep(delay)
            else:
                nxt = time.time()


def probe_stats(out, db):
    sent = {}
    with open(out) as f:
        for line in f:
            if line.startswith("probe-"):
                mid, _t0, t1 = line.split()
                sent[mid] = float(t1)
    got, exact = {}, 0
    with open(db) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[0] in sent:
                got[parts[0]] = float(parts[1])
                exact += parts[2] == "t"
    vals = sorted((got[m] - sent[m]) * 1000 for m in got)
    print("probes=%d captured=%d missing=%d p50=%.1f p99=%.1f max=%.1f "
          "commit_ts=%s" % (len(sent), len(got), len(sent) - len(got),
                            pct(vals, 50), pct(vals, 99),
                            vals[-1] if vals else float("nan"),
                            "yes" if got and exact == len(got) else "no"))


def rss(pid, out):
    """Writes OUT after the first sample (run.sh waits for it), then keeps
    the maximum there; stops when OUT.stop appears (after one more sample)
    or PID is gone."""
    peak = -1
    stop = out + ".stop"
    while True:
        last = os.path.exists(stop)
        kb = 0
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        kb = int(line.split()[1])
                        break
        except OSError:
            last = True
        if kb > peak:
            peak = kb
            with open(out + ".tmp", "w") as o:
                o.write("%d\n" % peak)
            os.replace(out + ".tmp", out)
        if last:
            break
        time.sleep(0.1)


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return "?"


def busy(secs):
    m0, p0 = machine(), all_procs()
    t0 = time.time()
    time.sleep(secs)
    m1, p1 = machine(), all_procs()
    wall = time.time() - t0
    ncpu = os.cpu_count() or 1
    share = 100.0 * (m1["busy"] - m0["busy"]) / HZ / (wall * ncpu)
    use = []
    for pid, st in p1.items():
        if pid in p0:
            d = (st["ticks"] - p0[pid]["ticks"]) / HZ
            if d > 0:
                use.append((d, pid))
    use.sort(reverse=True)
    top = ", ".join("%s[%d] %.0f%%" % (comm(pid), pid, 100 * d / wall)
                    for d, pid in use[:4])
    print("%.0f %s" % (share, top or "-"))


def pct(vals, p):
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


def eom(log, first):
    # The milter logs "journal queue_id=Q ... eom_ms=T" when it answers end
    # of message; its ingester logs "capture queue_id=Q ... stored new=..."
    # once the capture is committed.
    rx = re.compile(r"journal queue_id=\S+ .* eom_ms=([0-9.]+)")
    vals, counts = [], {"stored": 0, "spooled": 0, "lost": 0, "skipped": 0,
                        "new": 0, "dup": 0}
    with open(log, errors="replace") as f:
        for n, line in enumerate(f, 1):
            if n < first:
                continue
            m = rx.search(line)
            if m:
                vals.append(float(m.group(1)))
                continue
            if "capture LOST" in line:
                counts["lost"] += 1
            elif "capture queue_id=" not in line:
                continue
            elif " stored new=" in line:
                counts["stored"] += 1
                counts["new" if " new=yes" in line else "dup"] += 1
            elif " skipped reason=" in line:
                counts["skipped"] += 1
    vals.sort()
    mean = sum(vals) / len(vals) if vals else float("nan")
    print("captures=%d p50=%.2f p90=%.2f p99=%.2f max=%.2f mean=%.2f "
          "stored=%d new=%d dup=%d spooled=%d lost=%d skipped=%d"
          % (len(vals), pct(vals, 50), pct(vals, 90), pct(vals, 99),
             vals[-1] if vals else float("nan"), mean, counts["stored"],
             counts["new"], counts["dup"], counts["spooled"], counts["lost"],
             counts["skipped"]))


def big_message(out, nbytes):
    # base64: 57 raw bytes per 76-character line (+ LF)
    raw = max(nbytes - 2048, 57) * 57 // 77
    head = ("From: \"Big Sender\" <contact3@acme4.test>\n"
            "To: user1@example.com\n"
            "Subject: 50 MB attachment\n"
            "Date: Mon, 01 Apr 2024 10:00:00 +0000\n"
            "Message-ID: <big.%d@bench.acme4.test>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: multipart/mixed; boundary=\"=_big\"\n\n"
            "--=_big\nContent-Type: text/plain; charset=utf-8\n\n"
            "The drawings are attached.\n\n"
            "--=_big\nContent-Type: application/octet-stream; name=\"big.bin\"\n"
            "Content-Disposition: attachment; filename=\"big.bin\"\n"
            "Content-Transfer-Encoding: base64\n\n" % int(time.time()))
    import base64
    with open(out + ".tmp", "wb") as f:
        f.write(head.encode())
        left = raw
        while left > 0:
            n = min(left, 57 * 1024)
            f.write(base64.encodebytes(os.urandom(n)))
            left -= n
        f.write(b"\n--=_big--\n")
    os.replace(out + ".tmp", out)


def free_port(base):
    for port in range(base, base + 50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # as servers do: connections in TIME_WAIT (our previous run) do not
        # count
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        print(port)
        return
    sys.exit("no free port in %d-%d" % (base, base + 49))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "cpu-snap":
        cpu_snap(args[0], args[1:])
    elif cmd == "cpu-diff":
        cpu_diff(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else "")
    elif cmd == "probe":
        probe(args[0], args[1], args[2], float(args[3]), int(args[4]), args[5],
              args[6], args[7])
    elif cmd == "probe-stats":
        probe_stats(args[0], args[1])
    elif cmd == "rss":
        rss(int(args[0]), args[1])
    elif cmd == "eom":
        eom(args[0], int(args[1]))
    elif cmd == "free-port":
        free_port(int(args[0]))
    elif cmd == "busy":
        busy(float(args[0]))
    elif cmd == "big-message":
        big_message(args[0], int(args[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
