"""The ``--json`` contract: one object per line, every event, then the result; exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import API_KEY, FAILING, ThreadedSimulator, json_lines


def _grid(sim: ThreadedSimulator) -> str:
    result = sim.invoke("--json", "imagine", "a grid to change", "--wait")
    assert result.exit_code == 0, result.stderr
    task_id = json_lines(result)[-1]["task"]["id"]
    assert isinstance(task_id, str)
    return task_id


def test_imagine_wait_emits_events_then_one_result(sim: ThreadedSimulator) -> None:
    """With --wait and --json: Submitted, the task's events, Succeeded, then the result."""
    result = sim.invoke("--json", "imagine", "a red fox", "--wait", "--state", "job-7")
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result)
    events, last = lines[:-1], lines[-1]
    assert [line["type"] for line in events] == ["event"] * len(events)
    assert events[0]["event"] == "Submitted"
    assert events[0]["submit"]["code"] == 1
    assert events[-1]["event"] == "Succeeded"
    assert events[-1]["terminal"] is True
    assert sum(line["terminal"] for line in events) == 1
    task_id = events[0]["task_id"]
    assert {line["task_id"] for line in events} == {task_id}
    assert last["type"] == "result"
    assert last["command"] == "imagine"
    assert last["ok"] is True
    assert last["outcome"] == "Succeeded"
    assert last["submit"]["task_id"] == task_id
    task = last["task"]
    assert task["id"] == task_id
    assert task["status"] == "SUCCESS"
    assert task["progress"] == 100
    assert task["state"] == "job-7"
    assert task["image_url"].startswith(sim.url)
    assert [b["label"] for b in task["buttons"]][:4] == ["U1", "U2", "U3", "U4"]


def test_submit_without_wait_prints_only_the_result(sim: ThreadedSimulator) -> None:
    """Without --wait a submit prints a single result line holding the new task id."""
    result = sim.invoke("--json", "shorten", "a very long prompt about a cat")
    assert result.exit_code == 0, result.stderr
    (line,) = json_lines(result)
    assert line["type"] == "result"
    assert line["command"] == "shorten"
    assert line["submit"]["task_id"].isdigit()


def test_plain_submit_prints_the_bare_task_id(sim: ThreadedSimulator) -> None:
    """Without --json stdout is the task id alone, so scripts can capture it."""
    result = sim.invoke("imagine", "a bare id")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip().isdigit()


def test_failed_task_exits_3_with_the_reason(sim: ThreadedSimulator) -> None:
    """A task that ends in FAILURE exits 3 and reports the server's failReason."""
    result = sim.invoke("--json", "imagine", f"a {FAILING} cat", "--wait")
    assert result.exit_code == 3
    lines = json_lines(result)
    assert lines[-2]["event"] == "Failed"
    assert lines[-2]["reason"]
    last = lines[-1]
    assert last["type"] == "result"
    assert last["ok"] is False
    assert last["outcome"] == "Failed"
    assert last["task"]["status"] == "FAILURE"
    assert "failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_wrong_key_exits_5_without_showing_the_key(sim: ThreadedSimulator) -> None:
    """A wrong key exits 5 with one error line, and the key appears nowhere."""
    bad_key = "sk-wrong-SECRET-key-999"
    result = sim.invoke("--json", "imagine", "a cat", key=bad_key)
    assert result.exit_code == 5
    (line,) = json_lines(result)
    assert line["type"] == "error"
    assert line["error"] == "AuthenticationError"
    assert line["exit_code"] == 5
    assert line["status"] == 401
    assert bad_key not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_key_is_read_from_the_environment(sim: ThreadedSimulator) -> None:
    """ONECHAT_API_KEY and ONECHAT_BASE_URL stand in for the options."""
    result = sim.invoke(
        "--json",
        "imagine",
        "from env",
        key=None,
        ONECHAT_API_KEY=API_KEY,
        ONECHAT_BASE_URL=sim.url,
    )
    assert result.exit_code == 0, result.stderr
    assert json_lines(result)[-1]["ok"] is True


def test_unreachable_server_is_one_line_and_exit_1(sim: ThreadedSimulator) -> None:
    """A server that refuses connections gives exit 1 and one line, no traceback."""
    from click.testing import CliRunner

    from onechat_async.cli._app import cli

    result = CliRunner().invoke(
        cli,
        ["--base-url", "http://127.0.0.1:9", "--api-key", API_KEY, "imagine", "a cat"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot connect")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["change", "1748339029401828", "ZOOM", "1"],
        ["simple-change", "1748339029401828", "U5"],
        ["fan-out", "1748339029401828", "--ops", "U1,X9"],
        ["blend", "only-one.png"],
        ["--mode", "slow", "fetch", "1748339029401828"],
        ["no-such-command"],
    ],
)
def test_bad_usage_exits_2(sim: ThreadedSimulator, args: list[str]) -> None:
    """Invalid arguments exit 2, whether click or the library catches them."""
    result = sim.invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_unknown_task_is_an_api_error(sim: ThreadedSimulator) -> None:
    """Fetching an id the server does not know exits 1 with a TaskNotFoundError line."""
    result = sim.invoke("--json", "fetch", "1748339029401828")
    assert result.exit_code == 1
    (line,) = json_lines(result)
    assert line["type"] == "error"
    assert line["error"] == "TaskNotFoundError"
    assert line["task_id"] == "1748339029401828"


def test_timeout_exits_4(slow_sim: ThreadedSimulator) -> None:
    """A task that cannot finish within --timeout exits 4 after a TimedOut event."""
    result = slow_sim.invoke("--json", "--timeout", "1", "imagine", "a slow cat", "--wait")
    assert result.exit_code == 4
    lines = json_lines(result)
    assert lines[-1]["type"] == "result"
    assert lines[-1]["outcome"] == "TimedOut"
    assert any(line.get("event") == "TimedOut" for line in lines)


def test_fetch_list_and_seed(sim: ThreadedSimulator) -> None:
    """fetch, list and seed each print one result line about finished tasks."""
    first, second = _grid(sim), _grid(sim)
    fetched = json_lines(sim.invoke("--json", "fetch", first))
    assert fetched[-1]["task"]["id"] == first
    listed = json_lines(sim.invoke("--json", "list", first, second, "1748339029401828"))
    assert [task["id"] for task in listed[-1]["tasks"]] == [first, second]
    seeded = json_lines(sim.invoke("--json", "seed", first))
    assert seeded[-1]["task_id"] == first
    assert seeded[-1]["seed"]


def test_fan_out_follows_every_child(sim: ThreadedSimulator) -> None:
    """fan-out submits the chosen children and ends with one row per op."""
    parent = _grid(sim)
    result = sim.invoke("--json", "fan-out", parent, "--ops", "u1,V2")
    assert result.exit_code == 0, result.stderr
    lines = json_lines(result)
    submitted = [line for line in lines if line.get("event") == "Submitted"]
    assert sorted(line["op"] for line in submitted) == ["U1", "V2"]
    assert all(line["parent_id"] == parent for line in submitted)
    ops = {line["task_id"]: line["op"] for line in submitted}
    events = [line for line in lines if line.get("type") == "event"]
    assert all(line["op"] == ops[line["task_id"]] for line in events)
    assert {line["op"] for line in events if line["event"] == "Succeeded"} == {"U1", "V2"}
    last = lines[-1]
    assert last["command"] == "fan-out"
    assert last["parent_id"] == parent
    assert [row["op"] for row in last["children"]] == ["U1", "V2"]
    assert [row["outcome"] for row in last["children"]] == ["Succeeded", "Succeeded"]
    actions = [row["task"]["action"] for row in last["children"]]
    assert actions == ["UPSCALE", "VARIATION"]


def test_simple_change_and_change_wait(sim: ThreadedSimulator) -> None:
    """simple-change and change with --wait both end in a finished child."""
    parent = _grid(sim)
    simple = json_lines(sim.invoke("--json", "simple-change", parent, "U2", "--wait"))
    assert simple[-1]["task"]["action"] == "UPSCALE"
    changed = json_lines(sim.invoke("--json", "change", parent, "variation", "3", "--wait"))
    assert changed[-1]["task"]["action"] == "VARIATION"


def test_watch_reports_each_task(sim: ThreadedSimulator) -> None:
    """The watch command follows several tasks and exits 3 when one of them failed."""
    good = json_lines(sim.invoke("--json", "imagine", "good"))[-1]["submit"]["task_id"]
    bad = json_lines(sim.invoke("--json", "imagine", f"{FAILING}"))[-1]["submit"]["task_id"]
    result = sim.invoke("--json", "watch", good, bad)
    assert result.exit_code == 3
    last = json_lines(result)[-1]
    assert [(row["task_id"], row["outcome"]) for row in last["tasks"]] == [
        (good, "Succeeded"),
        (bad, "Failed"),
    ]


def test_download_saves_the_image_by_task_id(sim: ThreadedSimulator, tmp_path: Path) -> None:
    """--download saves the finished image as DIR/<task id>.png."""
    result = sim.invoke("--json", "imagine", "a saved cat", "--download", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    last = json_lines(result)[-1]
    path = Path(last["file"])
    assert path == tmp_path / f"{last['task']['id']}.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
