#!/usr/bin/env python3
"""tests/check/memcheck_verdict.py — judges a valgrind memcheck XML report
of a server run with the shim preloaded: an error is the shim's when any
frame of its stack (for a leak, the allocation's) is in libpromshim.so or
libmicrohttpd (which only the shim loads). Exits 1 when any error is the
shim's, or when valgrind's exit status disagrees with the report; prints
the others as not the shim's.

  memcheck_verdict.py REPORT.xml VALGRIND_EXIT_STATUS
"""
import sys
import xml.etree.ElementTree as ET

OURS = ("libpromshim.so", "libmicrohttpd")


def main():
    root = ET.parse(sys.argv[1]).getroot()
    rc = int(sys.argv[2])
    ours, theirs = [], []
    for e in root.iter("error"):
        frames = []
        for st in e.findall("stack"):
            for f in st.findall("frame"):
                where = "%s:%s" % (f.findtext("file") or "", f.findtext("line") or "")
                frames.append((f.findtext("obj") or "", f.findtext("fn") or "?", where))
        what = e.findtext("what") or e.findtext("xwhat/text") or ""
        text = "%s: %s\n" % (e.findtext("kind"), what) + "".join(
            "      %s %s (%s)\n" % (fn, "" if w == ":" else w, obj) for obj, fn, w in frames[:14] if obj)
        mine = any(o in obj for obj, _, _ in frames for o in OURS)
        (ours if mine else theirs).append(text)
    sup = sum(int(p.findtext("count")) for p in root.iter("pair"))
    for t in theirs:
        print("not the shim's (ignored):\n    " + t, end="")
    for t in ours:
        print("THE SHIM'S:\n    " + t, end="")
    if ours:
        sys.exit("memcheck: %d error(s) involve the shim" % len(ours))
    # --error-exitcode=99: 99 exactly when unsuppressed errors were reported.
    if rc not in (0, 99) or (rc == 99) != bool(theirs):
        sys.exit("valgrind exited %d with %d unsuppressed error(s) in its report" % (rc, len(theirs)))
    print("memcheck: no error involves the shim (%d of nginx's own ignored, %d suppressed)"
          % (len(theirs), sup))


if __name__ == "__main__":
    main()
