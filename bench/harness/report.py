"""The Markdown results section of bench/README.md, from the JSON result."""

from __future__ import annotations

from typing import Any

START = "<!-- results:start (written by bench/run_all.py; edit outside these markers) -->"
END = "<!-- results:end -->"


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _s(spread: dict[str, Any] | None, digits: int = 0) -> str:
    """``median (min–max)``; just the median for a single run."""
    if not spread or spread.get("median") is None:
        return "–"
    med = _n(spread["median"], digits)
    if len(spread.get("runs", [])) < 2:
        return med
    return f"{med} ({_n(spread['min'], digits)}–{_n(spread['max'], digits)})"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.0f} %"


def _met(*conditions: bool | None) -> str:
    if any(c is None for c in conditions):
        return "not measured"
    return "**met**" if all(conditions) else "not met"


def _ge(value: float | None, bound: float) -> bool | None:
    return None if value is None else value >= bound


def _le(value: float | None, bound: float) -> bool | None:
    return None if value is None else value <= bound


def _med(spread: dict[str, Any] | None) -> float | None:
    return None if not spread else spread.get("median")


def targets(s: dict[str, Any], *, judge: bool = True) -> list[str]:
    """The targets table; ``judge=False`` (a smoke run) leaves the verdict column empty."""
    rows = _target_rows(s)
    if judge:
        return rows
    head = ["| # | Target | Measured (smoke run: not comparable) | |", rows[1]]
    return head + [row.rsplit("|", 2)[0] + "| – |" for row in rows[2:]]


def _target_rows(s: dict[str, Any]) -> list[str]:
    usage, sqlite, batch = s.get("usage"), s.get("sqlite"), s.get("batch")
    reaction, sweep, tp, mem = (
        s.get("reaction"),
        s.get("sweep"),
        s.get("throughput"),
        s.get("memory"),
    )
    rows = ["| # | Target | Measured | |", "|---|---|---|---|"]
    if usage:
        rps = _med(usage["service"]["rps"])
        p99 = _med(usage["service"]["p99_ms"])
        share = usage["ratios"]["service_vs_minimal"]
        rows.append(
            f"| 1 | PostgreSQL debits ≥ 1,500/s, p99 ≤ 100 ms, ≥ 60 % of the minimal endpoint | "
            f"{_n(rps)}/s, p99 {_n(p99, 1)} ms, {_pct(share)} of minimal | "
            f"{_met(_ge(rps, 1500), _le(p99, 100), _ge(share, 0.6))} |"
        )
    else:
        rows.append("| 1 | PostgreSQL debits | not run | |")
    if sqlite:
        rps = _med(sqlite["service"]["rps"])
        rows.append(f"| 1 | SQLite, one process ≥ 800/s | {_n(rps)}/s | {_met(_ge(rps, 800))} |")
    if batch:
        eps = _med(batch["api"]["events_per_second"])
        share = batch["ratio_api_vs_set_based"]
        rows.append(
            f"| 2 | Batch ≥ 15,000 events/s and ≥ 50 % of one set-based statement | "
            f"{_n(eps)} events/s, {_pct(share)} of set-based | "
            f"{_met(_ge(eps, 15000), _ge(share, 0.5))} |"
        )
    if reaction:
        half, idle = reaction["half_load"], reaction["idle"]
        rows.append(
            f"| 3 | Reaction p99 ≤ 50 ms at half load (idle kept) | half load "
            f"p50 {_n(half['p50_ms'], 1)} / p99 {_n(half['p99_ms'], 1)} ms; idle "
            f"p50 {_n(idle['p50_ms'], 1)} / p99 {_n(idle['p99_ms'], 1)} ms | "
            f"{_met(_le(half['p99_ms'], 50))} |"
        )
    if sweep:
        empty = _med(sweep["empty_pass_ms"])
        first = sweep["first_due_pass"]
        all_ms = sweep["ms_to_open_all"]
        rows.append(
            f"| 4 | Sweep over {sweep['users']:,} users finding nobody ≤ 50 ms | "
            f"{_n(empty, 1)} ms | {_met(_le(empty, 50))} |"
        )
        rows.append(
            f"| 4 | {sweep['due']:,} due opened in one pass ≤ 1 s | first pass opened "
            f"{first['opened']:,} in {_n(first['ms'])} ms; all {sweep['due']:,} after "
            f"{sweep['passes_until_none_due']} pass(es), {_n(all_ms)} ms in total | "
            f"{_met(first['opened'] == sweep['due'] and first['ms'] <= 1000)} |"
        )
    if tp:
        rate = _med(tp["end_to_end_per_second"])
        rows.append(
            f"| 5 | Recharges ≥ 100/s end to end with {tp['setup']['workers']} workers | "
            f"{_n(rate)}/s end to end, {_n(_med(tp['drain_per_second']))}/s drain | "
            f"{_met(_ge(rate, 100))} |"
        )
    if mem:
        api, worker = mem["api_peak_mib"], mem["worker_peak_mib"]
        rows.append(
            f"| 6 | API process < 150 MiB under load, a worker < 100 MiB | API "
            f"{_n(api)} MiB, worker {_n(worker)} MiB | "
            f"{_met(_le(api, 150) if api else None, _le(worker, 100) if worker else None)} |"
        )
    return rows


def _usage(usage: dict[str, Any]) -> list[str]:
    minimal = _med(usage["minimal"]["rps"])
    setup = usage["setup"]

    def vs_minimal(value: float | None) -> str:
        return _pct(value / minimal) if value is not None and minimal else "–"

    out = [
        f"`wrk {setup['wrk']}`, {setup['users']:,} users, {setup['rounds']} interleaved rounds "
        f"after a {setup['warmup_seconds']:g} s warm-up, {setup['server_processes']} server "
        "process(es) each; median (min–max) over the rounds.",
        "",
        "| | requests/s | p50 ms | p99 ms | server CPU ms/request | vs minimal |",
        "|---|---|---|---|---|---|",
    ]
    names = {
        "service": "`serve`: `POST /api/balance/usage/{userId}`",
        "minimal": "minimal FastAPI + asyncpg, same debit SQL",
        "constant": "FastAPI returning a constant",
    }
    for key, label in names.items():
        v = usage[key]
        out.append(
            f"| {label} | {_s(v['rps'])} | {_s(v['p50_ms'], 1)} | {_s(v['p99_ms'], 1)} | "
            f"{_s(v['cpu_ms_per_request'], 2)} | {vs_minimal(_med(v['rps']))} |"
        )
    pgb = usage["pgbench"]
    out.append(
        f"| `pgbench` of the debit statement ({usage['setup']['pgbench']}) | {_s(pgb['tps'])} | "
        f"avg {_s(pgb['latency_avg_ms'], 1)} | | | "
        f"{vs_minimal(_med(pgb['tps']))} |"
    )
    r = usage["ratios"]
    out += [
        "",
        f"Ratios: service / minimal {_pct(r['service_vs_minimal'])}, service / constant "
        f"{_pct(r['service_vs_constant'])}, minimal / pgbench {_pct(r['minimal_vs_pgbench'])}; "
        f"the service spends {_n(r['cpu_service_vs_minimal'], 1)}× the minimal endpoint's CPU "
        "per request.",
    ]
    return out


def section(result: dict[str, Any]) -> str:
    m = result["machine"]
    s = result["scenarios"]
    la0, la1 = result["load_average_start"], result["load_average_end"]
    lines = [START, ""]
    if result["config"]["quick"]:
        lines += [
            "> **SMOKE RUN (`--quick`), not the published figures.** Short runs, fewer rounds, "
            f"{s.get('sweep', {}).get('users', 0):,} sweep users, measured while other test "
            "suites were running on the same 2 cores (see the load average). It shows the "
            "harness works end to end; run `make bench` on a quiet machine for the figures.",
            "",
        ]
    lines += [
        f"Measured {result['started_at']} in {result['duration_seconds'] / 60:.1f} min "
        f"(commit {m['commit']}).",
        "",
        f"- **Machine:** {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['memory_mib'] / 1024:.1f} GiB, Linux {m['kernel']}",
        f"- **Load average** (1/5/15 min): at start {la0[0]:.2f} / {la0[1]:.2f} / {la0[2]:.2f}, "
        f"at end {la1[0]:.2f} / {la1[1]:.2f} / {la1[2]:.2f}",
        f"- **Versions:** Python {m['python']}, PostgreSQL {m['postgresql']}, {m['pgbench']}, "
        f"{m['wrk'].split(' Copyright')[0]}; "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()),
        "",
    ]
    if result["errors"]:
        lines += ["**Failed scenarios:** " + ", ".join(sorted(result["errors"])), ""]
    lines += ["### Targets (issue 7)", "", *targets(s, judge=not result["config"]["quick"]), ""]
    if "usage" in s:
        lines += ["### Usage debits on PostgreSQL (target 1)", "", *_usage(s["usage"]), ""]
    if "sqlite" in s:
        v = s["sqlite"]["service"]
        lines += [
            "### Usage debits on SQLite, one process (target 1)",
            "",
            f"{_s(v['rps'])} requests/s, p50 {_s(v['p50_ms'], 1)} ms, p99 {_s(v['p99_ms'], 1)} "
            f"ms, {_s(v['cpu_ms_per_request'], 2)} ms CPU/request "
            f"(`wrk {s['sqlite']['setup']['wrk']}`, {s['sqlite']['setup']['rounds']} round(s)).",
            "",
        ]
    if "batch" in s:
        b = s["batch"]
        lines += [
            "### Batch ingestion (target 2)",
            "",
            f"{b['setup']['events_per_request']:,} events a request over "
            f"{b['setup']['users']:,} users, {b['setup']['concurrency']} concurrent requests "
            "or statements, interleaved rounds.",
            "",
            "| | events/s | per request/statement p50 ms |",
            "|---|---|---|",
            f"| `POST /api/balance/usage` | {_s(b['api']['events_per_second'])} | "
            f"{_s(b['api']['request_p50_ms'])} |",
            f"| one set-based SQL statement (`harness/sql.py`) | "
            f"{_s(b['set_based']['events_per_second'])} | "
            f"{_s(b['set_based']['statement_p50_ms'])} |",
            "",
            f"API / set-based: {_pct(b['ratio_api_vs_set_based'])}.",
            "",
        ]
    if "reaction" in s:
        r = s["reaction"]
        half = r["half_load"]
        lines += [
            "### Reaction: crossing debit's response → PaymentIntent in the sandbox (target 3)",
            "",
            "| | samples | p50 ms | p99 ms | min–max ms |",
            "|---|---|---|---|---|",
        ]
        for label, v in (("idle", r["idle"]), ("half load", half)):
            lines.append(
                f"| {label} | {v['samples']} | {_n(v['p50_ms'], 1)} | {_n(v['p99_ms'], 1)} | "
                f"{_n(v['min_ms'], 1)}–{_n(v['max_ms'], 1)} |"
            )
        lines += [
            "",
            f"Background load during the half-load samples: {_n(half.get('background_rps'))} "
            f"debits/s = {_pct(half.get('background_fraction_of_max'))} of the "
            f"{_n(r['max_rps_used'])}/s maximum (p99 {_n(half.get('background_p99_ms'), 1)} ms); "
            f"one `balance-manager worker`.",
            "",
        ]
    if "sweep" in s:
        w = s["sweep"]
        lines += [
            "### Sweep (target 4)",
            "",
            f"{w['users']:,} users seeded in {w['seed_seconds']:.0f} s. A pass finding nobody: "
            f"{_s(w['empty_pass_ms'], 1)} ms. With {w['due']:,} due: "
            + ", ".join(
                f"{p['opened']:,} opened in {1000 * p['seconds']:,.0f} ms" for p in w["passes"]
            )
            + ".",
            "",
        ]
        for plan in w["candidate_plans"]:
            lines += [
                "```",
                plan["sql"],
                "",
                *plan["plan"],
                "```",
                "",
            ]
    if "throughput" in s:
        t = s["throughput"]
        lines += [
            "### Recharge throughput (target 5)",
            "",
            f"{t['setup']['recharges_per_round']:,} recharges a round, "
            f"{t['setup']['rounds']} round(s), {t['setup']['workers']} `balance-manager worker` "
            f"processes: {_s(t['end_to_end_per_second'])}/s from the first usage batch sent to "
            f"the last credit; {_s(t['drain_per_second'])}/s from the first recharge opened.",
            "",
        ]
    if "memory" in s:
        mem = s["memory"]
        lines += [
            "### Memory (target 6)",
            "",
            f"API process (`serve`, PostgreSQL): {_n(mem['api_at_start_mib'])} MiB at start, "
            f"{_n(mem['api_peak_mib'])} MiB peak under load; SQLite `serve` peak "
            f"{_n(mem['api_sqlite_peak_mib'])} MiB; worker {_n(mem['worker_at_start_mib'])} MiB "
            f"at start, {_n(mem['worker_peak_mib'])} MiB peak while charging; the minimal "
            f"baseline app {_n(mem['baseline_peak_mib'])} MiB.",
            "",
        ]
    if "sandbox" in s:
        sb = s["sandbox"]
        lines += [
            "### The sandbox's own capacity (context for target 5)",
            "",
            f"{_n(sb['per_second'])} PaymentIntent creations/s on one core "
            f"({_n(sb['sandbox_cpu_share'] * 100)} % of it busy).",
            "",
        ]
    lines.append(END)
    return "\n".join(lines)


def write_readme(readme: str, result: dict[str, Any]) -> str:
    """``readme`` with its results section replaced (appended when it has none)."""
    new = section(result)
    if START in readme and END in readme:
        head, rest = readme.split(START, 1)
        return head + new + rest.split(END, 1)[1]
    return readme.rstrip() + "\n\n## Results\n\n" + new + "\n"
