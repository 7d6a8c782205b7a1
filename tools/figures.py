#!/usr/bin/python3
"""Figures of mozart's results, drawn from the JSON and CSV files its commands write.

    figures.py KIND INPUT... -o OUT        writes OUT.png and OUT.svg

KIND and its inputs:
  speedup       a `reproduce mozart -o` JSON: speed-up per model and policy (main table)
  breakdown     `simulate -o` JSONs (or sweep point records): each step split into compute,
                exposed memory and exposed communication, beside its lower bound
  coactivation  a `trace stats --full -o` JSON and a `place -o` placement JSON (--layer N):
                co-activation counts with the placement's chiplet and group boundaries
  links         a `simulate -o` JSON or a sweep point record of `run: collective`: bytes per
                link drawn on the physical layout (a tree as a tree, a mesh as a grid)
  timeline      a `simulate --timeline` JSON: the busy intervals of the first --window of the run
  sweep         a sweep's results.csv: --y against --x, one line per setting of the others
  pareto        a sweep's results.csv: --y against --x (e.g. area_mm2), the Pareto front marked

Every input is checked; one it does not understand stops the script with one line naming the
file and what was expected, and exit status 2. Outputs are byte-identical for the same inputs
(fixed SVG ids, no dates in the files).
"""

import argparse
import csv
import json
import math
import re
import sys
from collections import OrderedDict, deque

plt = np = matplotlib = None  # imported on the first figure: a refused input costs no import


def import_matplotlib():
    global plt, np, matplotlib
    if plt is not None:
        return
    try:
        import matplotlib as mpl

        mpl.use("Agg")
        import matplotlib.pyplot as pyplot
        import numpy as numpy
    except ImportError as error:  # Debian: python3-matplotlib python3-numpy
        sys.stderr.write(f"figures.py: needs matplotlib and numpy ({error})\n")
        sys.exit(3)
    matplotlib, plt, np = mpl, pyplot, numpy
    matplotlib.rcParams.update(
        {
            "svg.hashsalt": "mozart",
            "svg.fonttype": "none",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
        }
    )


COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


class BadInput(Exception):
    """An input the figure cannot be drawn from: one line for the user."""


def fail_on(path, what):
    raise BadInput(f"{path}: {what}")


def load_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as error:
        fail_on(path, f"cannot be read ({error.strerror})")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        fail_on(path, f"is not JSON ({error})")


def need(value, path, keys, expected):
    """value[keys[0]][keys[1]]..., or a BadInput naming the missing key and the expectation."""
    for key in keys:
        if isinstance(key, int):
            ok = isinstance(value, list) and -len(value) <= key < len(value)
        else:
            ok = isinstance(value, dict) and key in value
        if not ok:
            dotted = ".".join(str(k) for k in keys)
            fail_on(path, f"has no '{dotted}': expected {expected}")
        value = value[key]
    return value


def number(value, path, field):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        fail_on(path, f"field '{field}' is {json.dumps(value)[:40]}, expected a finite number")
    return float(value)


def save(fig, out):
    fig.tight_layout()
    fig.savefig(out + ".png", metadata={"Software": None})
    fig.savefig(out + ".svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)


def step_summary(path):
    """A simulate summary and a short name for it, from its own file or a sweep point's record."""
    data = load_json(path)
    label = ""
    if isinstance(data, dict) and "result" in data and "sweep" in data:
        label = f"point {data.get('point', '?')}\n"
        data = data["result"]
    need(data, path, ["breakdown"], "a `mozart simulate` JSON summary")
    policy = data.get("policy")
    policy = policy.get("name", "") if isinstance(policy, dict) else ""
    return data, f"{label}{data.get('model', '?')}\n{policy}".strip()


# --- speedup ---------------------------------------------------------------------------------


def figure_speedup(args):
    path = args.inputs[0]
    data = load_json(path)
    rows = need(data, path, ["rows"], "a `mozart reproduce mozart` JSON (rows)")
    if not isinstance(rows, list):
        fail_on(path, "field 'rows' is not a list")
    table = OrderedDict()  # model -> policy -> speed-up
    policies = []
    for i, row in enumerate(rows):
        if need(row, path, ["section"], "rows with a section") != "main":
            continue
        model = need(row, path, ["model"], "rows with a model")
        policy = need(row, path, ["policy"], "rows with a policy")
        table.setdefault(model, OrderedDict())[policy] = number(
            need(row, path, ["speedup"], "rows with a speedup"), path, f"rows[{i}].speedup"
        )
        if policy not in policies:
            policies.append(policy)
    if not table:
        fail_on(path, "has no row of section 'main'")
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(table), 3.2))
    width = 0.8 / len(policies)
    for p, policy in enumerate(policies):
        xs = [m + (p - (len(policies) - 1) / 2) * width for m in range(len(table))]
        ys = [table[model].get(policy, 0.0) for model in table]
        bars = ax.bar(xs, ys, width, label=policy, color=COLOURS[p % len(COLOURS)])
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.axhline(1.0, color="#444", linewidth=0.8)
    ax.set_xticks(range(len(table)), list(table))
    ax.set_ylabel("speed-up over the baseline")
    ax.legend(title="policy", frameon=False, fontsize=8)
    ax.set_title("Step speed-up per model and policy")
    save(fig, args.output)


# --- breakdown -------------------------------------------------------------------------------


def figure_breakdown(args):
    names, parts, bounds = [], [], []
    for path in args.inputs:
        s, name = step_summary(path)
        b = s["breakdown"]
        step = number(need(s, path, ["step_s"], "a step time"), path, "step_s")
        mem = number(need(b, path, ["memory_without_compute_s"], "a breakdown"), path, "memory")
        comm = number(
            need(b, path, ["communication_without_compute_s"], "a breakdown"), path, "communication"
        )
        # The rest of the step has a chiplet computing: compute and what hides under it.
        parts.append((max(step - mem - comm, 0.0), mem, comm))
        bound = need(s, path, ["lower_bound", "bound_s"], "a lower bound")
        bounds.append(number(bound, path, "lower_bound.bound_s"))
        names.append(name)
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(5.0 + 0.9 * len(names), 3.6))
    labels = ["computing (other work hidden under it)", "memory, nothing computing",
              "communication, nothing computing"]
    bottom = np.zeros(len(names))
    for k, label in enumerate(labels):
        values = np.array([p[k] for p in parts])
        ax.bar(range(len(names)), values, 0.6, bottom=bottom, label=label, color=COLOURS[k])
        bottom += values
    ax.scatter(range(len(names)), bounds, marker="_", s=400, color="black", label="lower bound",
               zorder=3)
    ax.set_xticks(range(len(names)), names, fontsize=7)
    ax.set_ylabel("seconds per step")
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle("Step time: computing, exposed memory, exposed communication", fontsize=10)
    save(fig, args.output)


# --- coactivation ----------------------------------------------------------------------------


def figure_coactivation(args):
    if len(args.inputs) != 2:
        raise BadInput("coactivation: give a `trace stats --full -o` JSON and a placement JSON")
    stats_path, placement_path = args.inputs
    stats = load_json(stats_path)
    placement = load_json(placement_path)
    experts = int(number(need(stats, stats_path, ["experts"], "trace stats"), stats_path, "experts"))
    layers = need(stats, stats_path, ["layers"], "trace stats with layers")
    layer = min(args.layer, len(layers) - 1)
    co = need(layers, stats_path, [layer, "coactivation"], "trace stats written with --full")
    if not isinstance(co, list) or len(co) != experts * experts:
        fail_on(stats_path, f"coactivation of layer {layer} is not {experts}x{experts} counts")
    import_matplotlib()
    matrix = np.array(co, dtype=float).reshape(experts, experts)
    p_layers = need(placement, placement_path, ["layers"], "a placement JSON (`place -o`)")
    p_layer = next((l for l in p_layers if isinstance(l, dict) and l.get("layer") == layer), None)
    if p_layer is None:
        fail_on(placement_path, f"has no layer {layer}")
    chiplets_of = need(p_layer, placement_path, ["chiplets_of"], "chiplets per expert")
    if len(chiplets_of) != experts:
        fail_on(placement_path, f"places {len(chiplets_of)} experts, the trace has {experts}")
    group = need(placement, placement_path, ["layout", "group"], "a layout with groups")
    home = [c[0] if isinstance(c, list) and c else 0 for c in chiplets_of]
    order = sorted(range(experts), key=lambda e: (group[home[e]], home[e], e))
    m = matrix[np.ix_(order, order)]
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    image = ax.imshow(np.log1p(m), cmap="viridis", interpolation="nearest")
    fig.colorbar(image, ax=ax, label="log(1 + tokens routed to both)")
    for i in range(1, experts):
        a, b = order[i - 1], order[i]
        if home[a] != home[b]:
            thick = group[home[a]] != group[home[b]]
            for draw in (ax.axhline, ax.axvline):
                draw(i - 0.5, color="white" if thick else "#bbbbbb", linewidth=1.6 if thick else 0.4)
    ax.set_xlabel("expert (by group, then chiplet)")
    ax.set_ylabel("expert")
    ax.set_title(
        f"Layer {layer} co-activation; lines: chiplets (thin), groups (thick)\n"
        f"placer {placement.get('placer', '?')}",
        fontsize=8,
    )
    save(fig, args.output)


# --- links -----------------------------------------------------------------------------------


def link_bytes(path):
    data = load_json(path)
    if isinstance(data, dict) and "result" in data and "sweep" in data:
        data = data["result"]
    links = need(data, path, ["links"], "a summary with per-link bytes (simulate, serve, sweep)")
    out = OrderedDict()
    for i, link in enumerate(links):
        # simulate and sweeps name a link by "name", serve by "link"
        key = "link" if isinstance(link, dict) and "name" not in link else "name"
        name = need(link, path, [key], "links with a name")
        if not isinstance(name, str) or "->" not in name:
            fail_on(path, f"link {i} is named {json.dumps(name)[:40]}, expected 'a->b'")
        a, b = name.split("->", 1)
        out[(a, b)] = number(need(link, path, ["bytes"], "links with bytes"), path, "bytes")
    if not out:
        fail_on(path, "has no links")
    return data, out


def bfs(adjacent, start):
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for other in adjacent[node]:
            if other not in dist:
                dist[other] = dist[node] + 1
                queue.append(other)
    return dist


def tree_positions(nodes, adjacent):
    root = nodes[0]  # links are listed from the root down
    depth, parent, order = {root: 0}, {root: None}, [root]
    for node in order:
        for other in adjacent[node]:
            if other not in depth:
                depth[other], parent[other] = depth[node] + 1, node
                order.append(other)
    leaves = [n for n in order if all(parent.get(o) != n for o in adjacent[n])]
    x = {leaf: float(i) for i, leaf in enumerate(leaves)}
    for node in reversed(order):
        if node not in x:
            kids = [o for o in adjacent[node] if parent.get(o) == node]
            x[node] = sum(x[k] for k in kids) / len(kids)
    return {n: (x[n], -depth[n]) for n in order}


def mesh_positions(nodes, adjacent):
    """Grid coordinates from distances to two corners of a rectangular mesh; None otherwise."""
    corners = [n for n in nodes if len(adjacent[n]) == 2]
    if len(corners) < 2:
        return None
    d0 = bfs(adjacent, corners[0])
    c1 = min((c for c in corners[1:]), key=lambda c: d0.get(c, 1 << 30))
    span = d0[c1]
    d1 = bfs(adjacent, c1)
    pos = {}
    for n in nodes:
        twice_x = d0[n] + span - d1[n]
        if twice_x % 2:
            return None
        pos[n] = (twice_x // 2, -(d0[n] - twice_x // 2))
    return pos if len(set(pos.values())) == len(nodes) else None


def figure_links(args):
    path = args.inputs[0]
    data, traffic = link_bytes(path)
    nodes, adjacent = [], {}
    for a, b in traffic:
        for n in (a, b):
            if n not in adjacent:
                adjacent[n] = set()
                nodes.append(n)
        adjacent[a].add(b)
        adjacent[b].add(a)
    for n in nodes:
        adjacent[n] = sorted(adjacent[n], key=nodes.index)
    edges = {tuple(sorted((a, b), key=nodes.index)) for a, b in traffic}
    is_tree = len(edges) == len(nodes) - 1 and len(bfs(adjacent, nodes[0])) == len(nodes)
    pos = tree_positions(nodes, adjacent) if is_tree else mesh_positions(nodes, adjacent)
    kind = "tree" if is_tree else "mesh"
    if pos is None:
        fail_on(path, "links form neither a tree nor a rectangular mesh: no layout to draw on")
    per_edge = {e: traffic.get(e, 0.0) + traffic.get((e[1], e[0]), 0.0) for e in edges}
    top = max(per_edge.values()) or 1.0
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(7.5, 4.2 if is_tree else 6.0))
    cmap = plt.get_cmap("inferno_r")
    for (a, b) in sorted(per_edge, key=lambda e: per_edge[e]):
        share = per_edge[(a, b)] / top
        (xa, ya), (xb, yb) = pos[a], pos[b]
        ax.plot([xa, xb], [ya, yb], color=cmap(0.1 + 0.85 * share), linewidth=1 + 5 * share,
                solid_capstyle="round", zorder=1)
    xs = [pos[n][0] for n in nodes]
    ys = [pos[n][1] for n in nodes]
    ax.scatter(xs, ys, s=60 if len(nodes) <= 40 else 18, color="#dddddd", edgecolor="#555555",
               zorder=2)
    if len(nodes) <= 40:
        for n in nodes:
            ax.annotate(n, pos[n], fontsize=6, ha="center", va="bottom",
                        xytext=(0, 5), textcoords="offset points")
    mappable = matplotlib.cm.ScalarMappable(cmap=cmap, norm=matplotlib.colors.Normalize(0, top))
    fig.colorbar(mappable, ax=ax, label="bytes on the link (both directions)")
    ax.set_axis_off()
    name = data.get("hardware", data.get("hw", "")) if isinstance(data, dict) else ""
    ax.set_title(f"Traffic per link on the {kind} of {name}".strip())
    save(fig, args.output)


# --- timeline --------------------------------------------------------------------------------


def figure_timeline(args):
    path = args.inputs[0]
    data = load_json(path)
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list):
        fail_on(path, "is not a Chrome/Perfetto trace (traceEvents)")
    process, thread, spans = {}, {}, []
    for e in events:
        if not isinstance(e, dict) or "ph" not in e:
            fail_on(path, "has an event without a phase: expected a Chrome/Perfetto trace")
        if e["ph"] == "M" and e.get("name") == "process_name":
            process[e.get("pid")] = e.get("args", {}).get("name", "")
        elif e["ph"] == "M" and e.get("name") == "thread_name":
            thread[(e.get("pid"), e.get("tid"))] = e.get("args", {}).get("name", "")
        elif e["ph"] == "X":
            spans.append((e.get("pid"), e.get("tid"), float(e.get("ts", 0)), float(e.get("dur", 0))))
    if not spans:
        fail_on(path, "has no complete ('X') events: nothing ran")
    end = max(t + d for _, _, t, d in spans)
    window = end * args.window
    rows = OrderedDict()
    for pid, tid, t, d in sorted(spans, key=lambda s: (s[0], s[1])):
        if t < window:
            rows.setdefault((pid, tid), []).append((t, min(d, window - t)))
    keys = list(rows)[: args.max_rows]
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.22 * len(keys)))
    pids = sorted({k[0] for k in keys}, key=str)
    for r, key in enumerate(keys):
        colour = COLOURS[pids.index(key[0]) % len(COLOURS)]
        ax.broken_barh([(t / 1e3, max(d / 1e3, window * 2e-7)) for t, d in rows[key]],
                       (r - 0.4, 0.8), color=colour, linewidth=0)
    ax.set_yticks(range(len(keys)),
                  [f"{process.get(k[0], k[0])}: {thread.get(k, k[1])}" for k in keys], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlabel("ms")
    ax.set_xlim(0, window / 1e3)
    ax.set_title(f"Timeline, first {100 * args.window:.0f}% of the run ({len(keys)} of "
                 f"{len({(p, t) for p, t, _, _ in spans})} rows)", fontsize=8)
    save(fig, args.output)


# --- sweeps ----------------------------------------------------------------------------------


def read_csv(path):
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except OSError as error:
        fail_on(path, f"cannot be read ({error.strerror})")
    if len(rows) < 2 or not rows[0] or rows[0][0] != "point" or "error" not in rows[0]:
        fail_on(path, "is not a sweep's results.csv (header 'point,...,error,...' and rows)")
    header = rows[0]
    return header, [dict(zip(header, r)) for r in rows[1:]]


QUANTITY = re.compile(r"^\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*([kKMGTP]?)(i?)")


def as_number(text):
    """'25 GB/s' -> 25e9, '1 MiB' -> 1048576, '0.5' -> 0.5; None when not a number."""
    m = QUANTITY.match(text or "")
    if not m:
        return None
    scale = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}[m.group(2)]
    if m.group(3):
        scale = 1024 ** (" KMGTP".index(m.group(2).upper()) if m.group(2) else 0)
    try:
        return float(m.group(1)) * scale
    except ValueError:
        return None


def swept_fields(header):
    return header[1 : header.index("error")]


def pick_metric(header, path, wanted, defaults):
    for name in ([wanted] if wanted else []) + defaults:
        if name in header:
            return name
    if wanted:
        fail_on(path, f"has no column '{wanted}'")
    fail_on(path, f"has none of the columns {', '.join(defaults)}")


def figure_sweep(args):
    path = args.inputs[0]
    header, rows = read_csv(path)
    fields = swept_fields(header)
    x = args.x or (fields[0] if fields else None)
    if x not in header:
        fail_on(path, f"has no column '{x}'")
    y = pick_metric(header, path, args.y, ["step_s", "time_s", "tokens_per_s"])
    others = [f for f in fields if f != x]
    lines = OrderedDict()
    for row in rows:
        if row.get("error"):
            continue
        value = as_number(row.get(y, ""))
        if value is None:
            continue
        key = ", ".join(f"{f}={row[f]}" for f in others) or y
        lines.setdefault(key, []).append((row[x], value))
    if not lines:
        fail_on(path, f"has no point with a number in column '{y}'")
    numeric = all(as_number(v) is not None for pts in lines.values() for v, _ in pts)
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    categories = []
    for pts in lines.values():
        for v, _ in pts:
            if v not in categories:
                categories.append(v)
    for k, (label, pts) in enumerate(lines.items()):
        if numeric:
            pts = sorted(pts, key=lambda p: as_number(p[0]))
            xs = [as_number(v) for v, _ in pts]
        else:
            xs = [categories.index(v) for v, _ in pts]
        ax.plot(xs, [v for _, v in pts], marker="o", markersize=3, label=label,
                color=COLOURS[k % len(COLOURS)])
    if not numeric:
        ax.set_xticks(range(len(categories)), categories, fontsize=7)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if len(lines) > 1:
        ax.legend(frameon=False, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"{y} against {x}")
    save(fig, args.output)


def figure_pareto(args):
    path = args.inputs[0]
    header, rows = read_csv(path)
    x = pick_metric(header, path, args.x, ["area_mm2", "energy_j.total"])
    y = pick_metric(header, path, args.y, ["step_s", "time_s"])
    points = []
    for row in rows:
        a, b = as_number(row.get(x, "")), as_number(row.get(y, ""))
        if not row.get("error") and a is not None and b is not None:
            points.append((a, b, row["point"]))
    if not points:
        fail_on(path, f"has no point with numbers in columns '{x}' and '{y}'")
    points.sort()
    front, best = [], math.inf
    for a, b, p in points:  # lower is better on both axes
        if b < best:
            front.append((a, b, p))
            best = b
    import_matplotlib()
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=14, color="#9aa7c7",
               label="points")
    ax.plot([p[0] for p in front], [p[1] for p in front], marker="o", markersize=4,
            color=COLOURS[3], label="Pareto front", drawstyle="steps-post")
    for a, b, p in front:
        ax.annotate(p, (a, b), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend(frameon=False, fontsize=7)
    ax.set_title(f"{y} against {x}: the points no other beats on both")
    save(fig, args.output)


FIGURES = {
    "speedup": figure_speedup,
    "breakdown": figure_breakdown,
    "coactivation": figure_coactivation,
    "links": figure_links,
    "timeline": figure_timeline,
    "sweep": figure_sweep,
    "pareto": figure_pareto,
}


def run(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=sorted(FIGURES))
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("-o", "--output", required=True, help="OUT: writes OUT.png and OUT.svg")
    parser.add_argument("--x", help="sweep, pareto: the column on the x axis")
    parser.add_argument("--y", help="sweep, pareto: the column on the y axis")
    parser.add_argument("--layer", type=int, default=0, help="coactivation: the layer")
    parser.add_argument("--window", type=float, default=0.1,
                        help="timeline: the fraction of the run shown, from its start")
    parser.add_argument("--max-rows", type=int, default=40, help="timeline: rows at most")
    args = parser.parse_args(argv)
    if not 0 < args.window <= 1:
        parser.error("--window must be in (0, 1]")
    try:
        FIGURES[args.kind](args)
    except BadInput as error:
        sys.stderr.write(f"figures.py {args.kind}: {str(error).splitlines()[0][:400]}\n")
        return 2
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        # A shape the checks above did not foresee: still one line, still bad input.
        sys.stderr.write(f"figures.py {args.kind}: {', '.join(args.inputs)[:200]}: not understood "
                         f"({type(error).__name__}: {str(error)[:120]})\n")
        return 2
    return 0


def main(argv):
    """One figure, or with --batch FILE one per line of FILE (a JSON list of arguments), in one
    process: matplotlib is imported once. A batch stops at its first refused input."""
    if argv[:1] != ["--batch"]:
        return run(argv)
    if len(argv) != 2:
        sys.stderr.write("figures.py: --batch takes one file of jobs\n")
        return 2
    with open(argv[1], encoding="utf-8") as jobs:
        for line in jobs:
            if line.strip():
                status = run(json.loads(line))
                if status:
                    return status
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
