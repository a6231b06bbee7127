"""The commands of the teaching page's GPU lab: every `advex-lit` line parses and names experiments, data sets and
executors that exist; every script it runs is in the repository."""
import re
import shlex
from pathlib import Path

import pytest

from advex_lit import exp_images, exp_robust, exp_tabular  # noqa: F401 (register the experiments)
from advex_lit.cli import command_parser, resolve_names, slurm_parameters
from advex_lit.experiments import get_experiment, parse_executor

ROOT = Path(__file__).resolve().parents[1]


def lab_lines(kind: str) -> list:
    "The lines of the GPU lab's bash blocks that run `kind` (advex-lit or bash), comments and variables stripped."
    text = (ROOT / "nbs" / "teaching.md").read_text()
    lab = text[text.index("## The GPU lab"):text.index("## How students run")]
    lines = [l.split("#")[0].strip() for block in re.findall(r"```bash\n(.*?)```", lab, re.S) for l in block.splitlines()]
    words = [[w for w in shlex.split(l) if not re.fullmatch(r"[A-Z_]+=\S*", w)] for l in lines if l]
    return [w for w in words if w and w[0] == kind]


def check_reproduce(args) -> None:
    names = resolve_names(args.name)
    assert names, args.name
    if args.only:
        data = {r.dataset for n in names for r in get_experiment(n).runs(args.profile)}
        assert set(args.only.split(",")) <= data, (args.only, data)
    if args.executor: assert parse_executor(args.executor)[1] >= 1
    if args.gpus: assert len(args.gpus.split(",")) == parse_executor(args.executor)[1]
    slurm_parameters(args.slurm)


def test_the_gpu_lab_commands_parse_and_name_what_exists():
    commands = lab_lines("advex-lit")
    assert len(commands) >= 6 and {"reproduce", "report"} <= {c[1] for c in commands}
    for words in commands:
        args = command_parser().parse_args(words[1:])
        if args.command == "reproduce": check_reproduce(args)
    assert any("reg_search" in c for c in commands)


def test_the_gpu_lab_scripts_exist():
    scripts = lab_lines("bash")
    assert scripts and all((ROOT / s[1]).is_file() for s in scripts)


def test_a_wrong_lab_command_would_fail():
    with pytest.raises(SystemExit): command_parser().parse_args(["reproduce", "table2", "--profile", "gpu"])
    with pytest.raises(AssertionError):
        check_reproduce(command_parser().parse_args(["reproduce", "table2", "--profile", "full", "--only", "cifar10"]))
