#!/usr/bin/env python3
"""svg_check.py: checks a chart from tools/svg.c for tests/test_svg.c.

  svg_check.py FILE.svg EXPECT

EXPECT holds lines "key<TAB>value" (UTF-8): title, xlabel, ylabel (the
texts), legend (one line per entry, in order), paths (series drawn),
circles (points drawn). The document must parse as XML (ElementTree, on
expat) with an <svg> root in the SVG namespace; it must show the texts and
legend given; every number in a coordinate, size or path must be finite
and written with a '.'; tick numbers along each axis must rise in equal
steps of 1, 2 or 5 times a power of ten, at least two of them; points
must lie on the canvas. Prints "ok" and exits 0, or the problem and 1.
"""
import math
import re
import sys
import xml.etree.ElementTree as ET

NS = "{http://www.w3.org/2000/svg}"
NUMERIC = ("x", "y", "cx", "cy", "r", "width", "height", "stroke-width", "font-size", "fill-opacity")


class Fail(Exception):
    pass


def number(text, what):
    try:
        v = float(text)
    except ValueError:
        raise Fail("%s: %r is not a number" % (what, text))
    if not math.isfinite(v):
        raise Fail("%s: %r is not finite" % (what, text))
    return v


def group(root, cls):
    g = [e for e in root.iter(NS + "g") if e.get("class") == cls]
    if len(g) != 1:
        raise Fail("%d groups of class %s" % (len(g), cls))
    return g[0]


def check_ticks(values, axis):
    if len(values) < 2:
        raise Fail("%s axis: %d ticks" % (axis, len(values)))
    step = values[1] - values[0]
    if step <= 0:
        raise Fail("%s axis: ticks %s do not rise" % (axis, values))
    for a, b in zip(values, values[1:]):
        if abs((b - a) - step) > 1e-6 * step:
            raise Fail("%s axis: uneven ticks %s" % (axis, values))
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    if min(abs(mantissa - m) for m in (1, 2, 5)) > 1e-6:
        raise Fail("%s axis: step %g is not 1, 2 or 5 times a power of ten" % (axis, step))


def check(path, expect):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise Fail("not well-formed XML: %s" % e)
    if root.tag != NS + "svg":
        raise Fail("root element %s" % root.tag)
    width, height = number(root.get("width"), "width"), number(root.get("height"), "height")
    for e in root.iter():
        for key in NUMERIC:
            if e.get(key) is not None and not e.get(key).endswith("%"):
                number(e.get(key), "%s %s" % (e.tag, key))
        for key in ("d", "transform", "viewBox", "stroke-dasharray"):
            for token in re.findall(r"[^\sA-Za-z(),]+", e.get(key) or ""):
                number(token, "%s %s" % (e.tag, key))

    texts = {e.get("class"): "".join(e.itertext()) for e in root.iter(NS + "text") if e.get("class")}
    title = root.find(NS + "title")
    for key in ("title", "xlabel", "ylabel"):
        if texts.get(key) != expect.get(key, [""])[0]:
            raise Fail("%s %r, expected %r" % (key, texts.get(key), expect.get(key, [""])[0]))
    if title is None or (title.text or "") != expect.get("title", [""])[0]:
        raise Fail("<title> %r" % (title.text if title is not None else None))

    legend = ["".join(e.itertext()) for e in group(root, "legend").iter(NS + "text")]
    if legend != expect.get("legend", []):
        raise Fail("legend %r, expected %r" % (legend, expect.get("legend", [])))

    ticks = group(root, "ticks").findall(NS + "text")
    check_ticks([number(e.text, "x tick") for e in ticks if e.get("text-anchor") == "middle"], "x")
    ys = [(number(e.get("y"), "y"), number(e.text, "y tick")) for e in ticks if e.get("text-anchor") == "end"]
    check_ticks([v for _, v in sorted(ys, reverse=True)], "y")

    if "paths" in expect:
        paths = group(root, "series").findall(NS + "path")
        if len(paths) != int(expect["paths"][0]):
            raise Fail("%d series paths, expected %s" % (len(paths), expect["paths"][0]))
    if "circles" in expect:
        circles = group(root, "points").findall(NS + "circle")
        if len(circles) != int(expect["circles"][0]):
            raise Fail("%d points, expected %s" % (len(circles), expect["circles"][0]))
        for c in circles:
            x, y = number(c.get("cx"), "cx"), number(c.get("cy"), "cy")
            if not (0 <= x <= width and 0 <= y <= height):
                raise Fail("point (%g, %g) off the canvas" % (x, y))


def main():
    expect = {}
    try:
        with open(sys.argv[2], encoding="utf-8") as f:
            for line in f.read().split("\n"):
                if line:
                    key, _, value = line.partition("\t")
                    expect.setdefault(key, []).append(value)
        check(sys.argv[1], expect)
    except (Fail, OSError, ValueError) as e:
        print("svg_check: %s: %s" % (sys.argv[1], e))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
