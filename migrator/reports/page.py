"""The run report's HTML page, drawn from its JSON document alone: self-contained (inline CSS and SVG, no script,
no network), with the verdict and the counts at the top, items/s over time as a line chart, items per task as bars,
the per-task table and the redacted config. Every text from the document is escaped: table names come from users.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; padding: 0 1em; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
.outcome { display: inline-block; padding: .1em .6em; border-radius: .3em; color: #fff; font-weight: bold; }
.succeeded { background: #2e7d32; } .failed { background: #c62828; } .stopped { background: #ef6c00; }
.verdict, .failure { font-family: ui-monospace, monospace; margin: .6em 0; white-space: pre-wrap; }
.failure { color: #c62828; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(10em, 1fr)); gap: .6em; margin: 1em 0; }
.figure { border: 1px solid #ddd; border-radius: .3em; padding: .4em .6em; }
.figure b { display: block; font-size: 1.3em; } .figure span { color: #666; font-size: .85em; }
.note { color: #666; font-size: .9em; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #ddd; padding: .2em .5em; }
td { text-align: right; } th { background: #f5f5f5; }
svg text { font-size: 11px; fill: #444; } .line { fill: none; stroke: #1565c0; stroke-width: 2; }
.point { fill: #1565c0; } .bar { fill: #42a5f5; } .axis { stroke: #888; }
pre { background: #f5f5f5; padding: .8em; overflow: auto; }
"""
WIDTH, HEIGHT, LEFT, BOTTOM, TOP, RIGHT = 720, 260, 60, 40, 12, 16
BAR_HEIGHT, BAR_GAP, BAR_LABEL = 16, 4, 70
TASK_COLUMNS = (("task", "task"), ("items", "items"), ("unitsDone", "units"), ("seconds", "seconds"),
                ("cpuSeconds", "CPU s"), ("retries", "retries"), ("throttled", "throttled"),
                ("unprocessedResent", "re-sent"), ("bytesRead", "bytes read"), ("bytesWritten", "bytes written"),
                ("expired", "expired"), ("refused", "refused"), ("filteredOut", "filtered out"))


def render(doc: dict[str, Any]) -> str:
    """The whole page for the run report `doc` (document.build's)."""
    source, target = doc["source"].get("title") or "the source", doc["target"].get("title") or "the target"
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Migration run report: {escape(source)} -&gt; {escape(target)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Migration: {escape(source)} -&gt; {escape(target)}</h1>",
        f'<p><span class="outcome {escape(doc["outcome"])}">{escape(doc["outcome"])}</span> exit status '
        f'{_status(doc["exitStatus"])}; started {escape(doc["started"])}, ended {escape(doc["ended"])}</p>',
    ]
    if doc.get("verdict"):
        parts.append(f'<p class="verdict">migrator verdict: {escape(doc["verdict"])}</p>')
    if doc.get("failure"):
        parts.append(f'<p class="failure">{escape(doc["failure"])}</p>')
    parts += [_figures(doc), f'<p class="note">Counts from: {escape(doc["countsFrom"])}.</p>',
              "<h2>Throughput</h2>", _line_chart(doc["throughput"]["samples"]),
              "<h2>Items per task</h2>", _bars(doc["tasks"]), _task_table(doc["tasks"]),
              "<h2>Config (secrets redacted)</h2>",
              f"<pre>{escape(json.dumps(doc['config'], indent=2, ensure_ascii=False))}</pre>",
              "</body></html>"]
    return "\n".join(parts) + "\n"


def _figures(doc: dict[str, Any]) -> str:
    """The counts at the top: copied, expected, duration, items/s, retries, throttled and the rest when non-zero."""
    totals, expected = doc["totals"], doc["expected"]
    shown = [
        ("items copied", _number(totals["items"])),
        (f"expected ({expected['from']})" if expected["items"] else "expected", _number(expected["items"])),
        ("duration", f"{doc['seconds']:.1f} s"),
        ("items/s", _number(totals["itemsPerSecond"])),
        ("retries", _number(totals["retries"])),
        ("throttled", _number(totals["throttled"])),
    ]
    for key, label in (("unprocessedResent", "unprocessed re-sent"), ("refused", "refused"),
                       ("expired", "expired"), ("filteredOut", "filtered out"), ("bytesRead", "bytes read"),
                       ("bytesWritten", "bytes written")):
        if totals[key]:
            shown.append((label, _number(totals[key])))
    plan = doc["plan"]
    if plan["unitsTotal"] is not None:
        shown.append((f"{plan['unitKind']}s copied / of the source",
                      f"{_number(plan['unitsPlanned'])} / {_number(plan['unitsTotal'])}"))
    cells = "".join(f'<div class="figure"><b>{escape(value)}</b><span>{escape(label)}</span></div>'
                    for label, value in shown)
    return f'<div class="figures">{cells}</div>'


def _number(value: float | int | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def _line_chart(samples: list[dict[str, Any]]) -> str:
    """Items/s per progress sample against seconds since the copy started; one circle per sample."""
    if not samples:
        return ('<p class="note">No progress samples: the copy ended before the first progress interval, or the '
                'progress lines were off (progress.intervalSeconds: 0).</p>')
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    max_x = max(s["seconds"] for s in samples) or 1.0
    max_y = max(s["itemsPerSecond"] for s in samples) or 1.0

    def at(sample: dict[str, Any]) -> tuple[float, float]:
        return (LEFT + sample["seconds"] / max_x * plot_w, TOP + plot_h - sample["itemsPerSecond"] / max_y * plot_h)

    points = [at(s) for s in samples]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    circles = "".join(
        f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{s["seconds"]:.0f} s: '
        f'{s["itemsPerSecond"]:,.1f} items/s, {s["copied"]:,} copied</title></circle>'
        for (x, y), s in zip(points, samples))
    bottom, right = TOP + plot_h, LEFT + plot_w
    axes = (f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>'
            f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}"/>'
            f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{max_y:,.0f}</text>'
            f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end">0</text>'
            f'<text x="{LEFT}" y="{bottom + 16}" text-anchor="middle">0</text>'
            f'<text x="{right}" y="{bottom + 16}" text-anchor="end">{max_x:,.0f}</text>'
            f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 4}" text-anchor="middle">seconds since the copy '
            f'started</text>'
            f'<text x="14" y="{TOP + plot_h / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {TOP + plot_h / 2})">items/s</text>')
    return (f'<svg class="throughput" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>items/s over time</title>{axes}'
            f'<polyline class="line" points="{line}"/>{circles}</svg>')


def _bars(tasks: list[dict[str, Any]]) -> str:
    """One horizontal bar per task, its length the task's items, the figure at its end."""
    if not tasks:
        return '<p class="note">No task counts: neither a task result nor a progress report reached the driver.</p>'
    most = max(t["items"] for t in tasks) or 1
    room = WIDTH - BAR_LABEL - 90
    height = len(tasks) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    rows = []
    for index, task in enumerate(tasks):
        y = BAR_GAP + index * (BAR_HEIGHT + BAR_GAP)
        width = task["items"] / most * room
        rows.append(f'<text x="{BAR_LABEL - 6}" y="{y + 12}" text-anchor="end">task {task["task"]}</text>'
                    f'<rect class="bar" x="{BAR_LABEL}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}">'
                    f'<title>task {task["task"]}: {task["items"]:,} items</title></rect>'
                    f'<text x="{BAR_LABEL + width + 4:.1f}" y="{y + 12}">{task["items"]:,}</text>')
    return (f'<svg class="tasks" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" role="img"><title>items per task</title>{"".join(rows)}</svg>')


def _task_table(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return ""
    head = "".join(f"<th>{escape(label)}</th>" for _, label in TASK_COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{escape(_number(t[key]))}</td>" for key, _ in TASK_COLUMNS) + "</tr>"
                   for t in tasks)
    return f"<table><tr>{head}</tr>{rows}</table>"


def _status(status: int | None) -> str:
    return "that of spark-submit (143 after kill, 130 after Ctrl-C)" if status is None else str(status)
