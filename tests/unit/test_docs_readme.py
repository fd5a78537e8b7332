import re
import subprocess
from pathlib import Path

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def code_blocks() -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)```", README, re.S)  # any language tag, e.g. yaml


def test_readme_starts_with_the_demo_and_test_commands():
    """The first code block holds the two set-up commands, and .ci/run calls the test one."""
    first = code_blocks()[0]
    assert "./submit.sh --demo" in first and "./build.sh test" in first
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text()
    assert "./build.sh test" in ci


def test_readme_count_command_adds_up_the_task_summary_lines(tmp_path):
    """The documented grep/awk pipeline sums the summary lines and ignores the per-segment lines."""
    command = next(b for b in code_blocks() if "awk" in b and "migrator task" in b)
    log = tmp_path / "stderr"
    log.write_text(
        "2026-11-28 03:45:34,996 INFO migrator.task: migrator task 1: segment 1/8 transferred 100 items\n"
        "2026-11-28 03:45:34,996 INFO migrator.task: migrator task 1: segments [1, 5] transferred 4864 items in 3.3 s\n"
        "2026-11-28 03:45:35,287 INFO migrator.task: migrator task 0: segments [0] transferred 5332 items in 3.3 s "
        "(CPU 0.10 s, 18.8 us per item)\n"
        "unrelated line transferred 7 items\n"
    )
    result = subprocess.run(["bash", "-c", command.replace("LOG_FILES...", str(log))],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == str(4864 + 5332)


def test_readme_names_every_build_and_submit_command():
    """Every command build.sh and submit.sh accept is in the README."""
    for command in ("./build.sh test", "./submit.sh --demo", "./submit.sh config.yaml", "./build.sh\n",
                    "./submit.sh --validate config.yaml", "--sample 10000", "--report check.json",
                    "./submit.sh config.yaml --resume", "./build.sh bench", "./build.sh lint", "./build.sh spark35",
                    "PYTHON=/usr/bin/python3.11 ./build.sh"):
        assert command in README, command


def test_readme_validator_output_is_in_the_format_the_code_writes():
    """The documented per-task lines parse with the validator's summary pattern and add up to the totals shown."""
    from migrator.logs import VALIDATOR_SUMMARY

    block = next(b for b in code_blocks() if "validator verdict: DIFFERENT" in b and "validator task" in b)
    lines = VALIDATOR_SUMMARY.findall(block)
    assert len(lines) == 8
    source = sum(int(checked) for _, side, _, checked, _ in lines if side == "source")
    assert f"validator total: source 'demo-orders': {source} items checked" in block
