"""The benchmark command on two shipped Solomon instances (the full run is a command)."""

from __future__ import annotations

import csv
from dataclasses import replace

from bench import solver as bench
from bench import warm_start as warmbench
from solver.solution import Solution
from tests.solver.solver_days import solomon_dir


def test_bench_solves_two_shipped_instances_feasibly_and_reports_gaps(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    instances = solomon_dir()

    code = bench.main(
        [
            str(instances),
            "--bks",
            str(instances / "bks.csv"),
            "--time-limit",
            "2",
            "--only",
            "C101,RC105",
            "--csv",
            str(out),
        ]
    )

    printed = capsys.readouterr().out
    assert code == 0
    assert "2/2 instances solved feasibly with every customer served" in printed
    assert "overall" in printed
    assert "RC1" in printed
    rows = list(csv.DictReader(out.open()))
    assert [r["instance"] for r in rows] == ["C101", "RC105"]
    assert all(r["feasible"] == "True" and r["gap_pct"] != "" for r in rows)
    assert list(rows[0]) == ["instance", "feasible", "vehicles", "distance", "gap_pct", "seconds"]
    assert float(rows[0]["gap_pct"]) < 1.0  # C101's optimum is found in well under a second


def test_bench_exits_non_zero_when_a_customer_is_left_out(monkeypatch, capsys):
    real_solve = bench.solve

    def solve_and_lose_a_customer(problem, **options) -> Solution:
        solution = real_solve(problem, **options)
        route = next(r for r in solution.routes if r.stops)
        broken = replace(route, stops=route.stops[:-1])
        return replace(solution, routes=(broken, *(r for r in solution.routes if r is not route)))

    monkeypatch.setattr(bench, "solve", solve_and_lose_a_customer)

    code = bench.main(
        [str(solomon_dir()), "--time-limit", "0.5", "--workers", "1", "--only", "C201"]
    )

    assert code == 1
    assert "NO (" in capsys.readouterr().out


def test_bench_finds_no_instances_in_an_empty_directory(tmp_path, capsys):
    assert bench.main([str(tmp_path)]) == 2


def test_warm_start_bench_prints_cold_and_warm_side_by_side(capsys):
    code = warmbench.main(
        [str(solomon_dir() / "C201.txt"), "--base-time", "0.5", "--limits", "0.2,0.4"]
    )

    printed = capsys.readouterr().out
    assert code == 0
    assert "cold gap %" in printed
    assert "warm gap %" in printed
    assert "warm: within 1 % in" in printed
