"""Syncline's benchmark harness: ``python -m bench SCENARIO`` (see docs/benchmarks.md).

Each scenario builds its own deterministic data, runs every contender several times in
alternating order and writes ``bench/results/<scenario>-<timestamp>.{md,json}``.
"""
