"""tests/test_report_chromium.py — `envforge report` opened in headless Chromium (Debian
package `chromium`): the DOM after the scripts ran (--dump-dom) holds the SVG charts and
a rendered trajectory (messages, reasoning, tool calls, a failed tool result, verifier
info); filters given in the address narrow the list; a screenshot (--screenshot) shows
the charts' colours and is not blank. Exit 77 when no Chromium is installed."""
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "export_fixtures"))
import efpy  # noqa: E402
from efpy import check  # noqa: E402

CASES = ["test_dom_has_charts_and_trajectory", "test_filters_from_address",
         "test_screenshot_shows_charts"]


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def chrome(t, *args):
    prof = os.path.join(t.tmp, "chrome-profile")
    cmd = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-dev-shm-usage", "--user-data-dir=" + prof, "--virtual-time-budget=5000"]
    r = subprocess.run(cmd + list(args), capture_output=True, timeout=120)
    check(r.returncode == 0, "chromium exit %d: %s" % (r.returncode, r.stderr[-400:]))
    return r.stdout.decode("utf-8", errors="replace")


def report(t):
    out = os.path.join(t.tmp, "report.html")
    if not os.path.exists(out):
        efpy.envforge("report", "--db", efpy.small_store(t.tmp), "-o", out, "--max-episodes",
                      "100")
    return out


def test_dom_has_charts_and_trajectory(t):
    dom = chrome(t, "--dump-dom", "file://" + report(t))
    for needle in ('id="chart-pass"', 'id="chart-rewards"', 'id="chart-end"', 'id="chart-tools"',
                   'id="summary-table"'):
        check(needle in dom, "DOM lacks " + needle)
    check(len(re.findall(r'<rect class="bar"', dom)) >= 20, "too few bars")
    items = re.findall(r'<li class="ep (pass|fail)[^"]*"', dom)
    check(len(items) == 25, "list has %d episodes" % len(items))
    traj = dom[dom.index('id="trajectory"'):]
    for needle in ('class="msg system"', 'class="msg user"', 'class="msg assistant"',
                   'class="msg tool"', 'class="msg tool error"', 'class="reasoning"',
                   'class="tool-call"', "I need pi first", "verifier info", "45.14159",
                   "&lt;/script&gt; &lt;b&gt;not markup&lt;/b&gt;"):
        check(needle in traj, "trajectory lacks " + needle)
    check("<b>not markup</b>" not in dom, "stored text became markup")
    check("25 of 25 embedded episodes" in dom)
    print("    DOM: %d bars, %d episodes listed, trajectory rendered" % (
        len(re.findall(r'<rect class="bar"', dom)), len(items)))


def test_filters_from_address(t):
    url = "file://" + report(t)
    dom = chrome(t, "--dump-dom", url + "#env=lookup")
    check(len(re.findall(r'<li class="ep ', dom)) == 2)
    dom = chrome(t, "--dump-dom", url + "#outcome=fail&env=calc")
    n_fail = len(re.findall(r'<li class="ep ', dom))
    check(n_fail == 8, "failed calc episodes listed: %d" % n_fail)
    dom = chrome(t, "--dump-dom", url + "#q=no%20such%20text")
    check("no episode matches" in dom)
    dom = chrome(t, "--dump-dom", url + "#verified=0")
    check(len(re.findall(r'<li class="ep ', dom)) == 1)


def read_png(path):
    """RGB(A) pixels of an 8-bit PNG: (width, height, channels, rows of bytes)."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            check(depth == 8 and ctype in (2, 6), "unexpected PNG type")
            ch = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * ch
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, ch, rows


def test_screenshot_shows_charts(t):
    shot = os.path.join(t.tmp, "shot.png")
    chrome(t, "--screenshot=" + shot, "--window-size=1280,2000", "--hide-scrollbars",
           "file://" + report(t))
    check(os.path.getsize(shot) > 10000, "screenshot too small")
    w, h, ch, rows = read_png(shot)
    colours, bar_blue, bar_red = set(), 0, 0
    for y in range(0, h, 2):
        r = rows[y]
        for x in range(0, w * ch, ch * 2):
            px = (r[x], r[x + 1], r[x + 2])
            colours.add(px)
            if px == (0x4e, 0x79, 0xa7):
                bar_blue += 1
            elif px == (0xe1, 0x57, 0x59):
                bar_red += 1
    check(len(colours) > 50, "screenshot looks blank (%d colours)" % len(colours))
    check(bar_blue > 200, "no chart bars in the screenshot (%d blue pixels)" % bar_blue)
    check(bar_red > 50, "no tool-error bar in the screenshot (%d red pixels)" % bar_red)
    dst = os.environ.get("EF_REPORT_SHOT")
    if dst:
        shutil.copy(shot, dst)
    print("    screenshot %dx%d: %d colours, %d bar pixels, %d error-bar pixels (sampled)" % (
        w, h, len(colours), bar_blue, bar_red))


def main():
    t = efpy.Tests()
    if not browser():
        return t.skip_all(CASES, "no Chromium here (Debian package chromium)")
    for name in CASES:
        t.run(globals()[name], t)
    return t.end()


if __name__ == "__main__":
    sys.exit(main())
