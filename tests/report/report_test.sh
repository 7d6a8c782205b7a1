#!/bin/sh
# `mozart report` on run directories of simulate and sweep: every <img> is an inlined PNG that
# decodes; headless Chromium renders the simulate page (a screenshot that is not blank) with every image
# loaded, and a directory without results is refused in one line with exit 2.
# Arguments: mozart binary, python (with matplotlib), chromium, sweep test data directory.
# Exit 77 (skipped) where matplotlib or chromium is missing.
set -eu
mozart=$1 python=$2 chromium=$3 data=$4
"$python" -c "import matplotlib, numpy" 2>/dev/null || { echo "no matplotlib: skipped"; exit 77; }
command -v "$chromium" >/dev/null 2>&1 || { echo "no chromium: skipped"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$mozart" -q simulate --model olmoe-1b-7b --hw mozart-paper-olmoe --sequences 2 --seq-len 16 \
  --micro-batches 1 --weights-may-overflow --no-resimulate --out-dir sim >/dev/null
"$mozart" -q sweep "$data/collective.yaml" --out-dir sweep >/dev/null
for run in sim sweep; do
  "$mozart" report "$run" >/dev/null
  # Every image inlined, and each decodes to a PNG.
  "$python" - "$run/report.html" <<'PY'
import base64, re, sys
html = open(sys.argv[1], encoding="utf-8").read()
images = re.findall(r'<img [^>]*src="([^"]*)"', html)
assert images, "no image in the page"
for src in images:
    assert src.startswith("data:image/png;base64,"), "not an inlined PNG: " + src[:60]
    assert base64.b64decode(src.split(",", 1)[1], validate=True)[:8] == b"\x89PNG\r\n\x1a\n"
assert "http" not in html.replace("http-equiv", ""), "the page reaches outside itself"
print(len(images), "images in", sys.argv[1])
PY
  [ "$run" = sim ] || continue
  # Rendered: a screenshot with something on it, and every image loaded in the browser.
  page="file://$work/$run/report.html"
  flags="--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir=$work/profile"
  timeout 60 "$chromium" $flags --window-size=1200,1600 --screenshot="$work/$run.png" "$page" \
    >/dev/null 2>&1
  "$python" - "$work/$run.png" <<'PY'
import sys
import matplotlib.image as image
pixels = image.imread(sys.argv[1])[:, :, :3]
inked = (pixels.min(axis=2) < 0.9).mean()
assert inked > 0.02, f"the screenshot is blank ({100 * inked:.2f}% of pixels inked)"
print(f"screenshot {sys.argv[1]}: {100 * inked:.1f}% of pixels inked")
PY
  sed 's|</body>|<script>addEventListener("load", () => { const i = [...document.images]; document.body.dataset.loaded = i.filter(x => x.complete \&\& x.naturalWidth > 0).length + "/" + i.length; });</script></body>|' \
    "$run/report.html" >"$run/probe.html"
  timeout 60 "$chromium" $flags --virtual-time-budget=5000 --dump-dom "file://$work/$run/probe.html" \
    2>/dev/null >"$run/dom.html"
  loaded=$(sed -n 's/.*data-loaded="\([0-9]*\/[0-9]*\)".*/\1/p' "$run/dom.html" | head -1)
  [ -n "$loaded" ] && [ "${loaded%/*}" = "${loaded#*/}" ] || { echo "$run: images loaded: '$loaded'"; exit 1; }
  echo "$run: $loaded images loaded in chromium"
done
# Bad input: one line, exit 2.
mkdir empty
set +e
"$mozart" report empty 2>err
status=$?
set -e
[ "$status" -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] || { echo "report empty: exit $status"; cat err; exit 1; }
echo "reports render; a directory without results is refused"
