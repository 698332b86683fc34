"""The table on stdout, results.json, and the latest-results block of docs/bench.md."""
from __future__ import annotations

import json
import os
import re
import statistics

from _common import Section
from _measure import Figure, paired_ratio

__all__ = ["table", "write_json", "update_doc"]

_FMT = {"ms": "{:.1f}", "MB": "{:.1f}", "Gbit/s": "{:.2f}"}


def _num(value: float, unit: str) -> str:
    return _FMT.get(unit, "{:.2f}").format(value)


def _short(fig: Figure, names: list[str]) -> str:
    first = fig.name.split()[0]
    return first if sum(n.split()[0] == first for n in names) == 1 else fig.name


def _row(fig: Figure) -> str:
    if fig.not_run:
        return f"  {fig.name:<66} not run: {fig.not_run}"
    if not fig.samples:
        return f"  {fig.name:<66} no samples ({fig.failures} failed: {fig.last_error})"
    med = statistics.median(fig.samples)
    spread = f"{_num(min(fig.samples), fig.unit)}-{_num(max(fig.samples), fig.unit)}"
    line = f"  {fig.name:<66} {_num(med, fig.unit):>8} {fig.unit:<6} {spread:>15}  n={len(fig.samples)}"
    if fig.failures:
        line += f"  ({fig.failures} failed: {fig.last_error[:80]})"
    if fig.note:
        line += f"  [{fig.note}]"
    return line


def section_lines(sec: Section) -> list[str]:
    lines = [sec.title]
    if sec.not_run:
        return lines + [f"  not run: {sec.not_run}"]
    lines.append(f"  {'case':<66} {'median':>8} {'':<6} {'min-max':>15}")
    anchors = [f for f in sec.figures if f.role == "anchor" and f.samples]
    names = [f.name for f in anchors]
    for fig in sec.figures:
        lines.append(_row(fig))
        if sec.ratios and fig.role == "subject" and fig.samples and anchors:
            parts = []
            for anchor in anchors:
                r = paired_ratio(fig, anchor)
                if r is not None:
                    parts.append(f"{r:.2f}x {_short(anchor, names)}")
            lines.append("      = " + ", ".join(parts))
    for note in sec.notes:
        lines.append(f"  note: {note}")
    return lines


def table(sections: list[Section], meta: dict) -> str:
    m = meta["machine"]
    lines = [f"nsrun benchmark, {meta['date']}: {m['os']}, kernel {m['kernel']}, {m['cpus']} CPUs "
             f"({m['cpu_model']}), {meta['runs']} interleaved runs after {meta['warmup']} warm-up; "
             f"ratios are paired (median over rounds of nsrun/anchor)", ""]
    for sec in sections:
        lines += section_lines(sec) + [""]
    lines.append("targets (from the issues)")
    for sec in sections:
        for t in sec.targets:
            mark = {True: "MET    ", False: "NOT MET", None: "NOT RUN"}[t.met]
            lines.append(f"  [{mark}] {t.name}: {t.value}")
        if sec.not_run and not sec.targets:
            lines.append(f"  [NOT RUN] section {sec.title.split(':')[0]}: {sec.not_run}")
    trace = meta.get("trace")
    if trace:
        lines += ["", "where one embedded start goes (NSRUN_TRACE=1, median of 5 runs):"] + [f"  {t}" for t in trace]
    return "\n".join(lines)


def write_json(path: str, sections: list[Section], meta: dict) -> None:
    data = {**meta, "sections": [s.to_json() for s in sections]}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def update_doc(path: str, text: str) -> bool:
    """Replace the block between the bench markers in docs/bench.md with the latest table."""
    try:
        with open(path) as f:
            doc = f.read()
    except OSError:
        return False
    new, count = re.subn(r"(<!-- bench:begin -->\n).*?(<!-- bench:end -->)",
                         lambda m: m.group(1) + "```\n" + text + "\n```\n" + m.group(2), doc, flags=re.S)
    if count:
        with open(path, "w") as f:
            f.write(new)
    return bool(count)
