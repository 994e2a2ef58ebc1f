"""The deployment files, statically: the SAM template and the gcloud command name what exists,
on Python 3.11, with the settings the function reads; the package they deploy is complete."""

from __future__ import annotations

import importlib
import inspect
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from functions.order_email.bundle import bundle_build
from tests.functions.builders import customer_json, placed_json
from tests.functions.cloud_events import framework_serving, post_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "functions" / "order_email" / "deploy"
SETTINGS = {
    "ORDER_EMAIL_DATABASE_URL",
    "ORDER_EMAIL_SMTP_URL",
    "DEFAULT_FROM_EMAIL",
    "NOTIFICATIONS_ORDER_EMAIL",
    "NOTIFICATIONS_ORDER_EMAIL_SINCE",
}


class CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !GetAtt, !Sub ...) as plain values."""


CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: {
        suffix: loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
    },
)


def sam_template() -> dict:
    return yaml.load((DEPLOY / "template.yaml").read_text(), Loader=CloudFormationLoader)


def resolve(dotted: str):
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)


def test_the_sam_function_runs_the_handler_on_python_311_from_the_package():
    function = sam_template()["Resources"]["OrderEmailFunction"]["Properties"]

    assert function["Runtime"] == "python3.11"
    handler = resolve(function["Handler"])
    assert list(inspect.signature(handler).parameters) == ["event", "context"]
    assert (DEPLOY / function["CodeUri"]).resolve() == ROOT / "build" / "order_email"
    assert set(function["Environment"]["Variables"]) == SETTINGS


def test_the_sqs_event_source_reports_partial_batch_failures():
    template = sam_template()
    function = template["Resources"]["OrderEmailFunction"]["Properties"]
    [source] = function["Events"].values()
    queue = template["Resources"]["OrderEventsQueue"]["Properties"]

    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"GetAtt": "OrderEventsQueue.Arn"}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 1 <= source["Properties"]["BatchSize"] <= 10
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "GetAtt": "OrderEventsDeadLetterQueue.Arn"
    }


def test_the_deploy_script_is_valid_shell():
    subprocess.run(["sh", "-n", str(DEPLOY / "cloud-run.sh")], check=True)


def gcloud_commands() -> list[list[str]]:
    script = (DEPLOY / "cloud-run.sh").read_text().replace("\\\n", " ")
    return [shlex.split(line) for line in script.splitlines() if line.startswith("gcloud ")]


def flags(command: list[str]) -> dict[str, str]:
    return dict([*arg.split("=", 1), ""][:2] for arg in command if arg.startswith("--"))


def test_the_gcloud_deploy_is_a_gen2_python_311_function_on_a_topic():
    [deploy] = [c for c in gcloud_commands() if c[1:3] == ["functions", "deploy"]]
    given = flags(deploy)

    assert {"--gen2", "--retry"} <= set(given)
    assert given["--runtime"] == "python311"
    assert given["--trigger-topic"] == "order-events"
    assert given["--source"] == "build/order_email"
    entry = getattr(importlib.import_module("functions.order_email.gcp"), given["--entry-point"])
    assert list(inspect.signature(entry).parameters) == ["cloud_event"]
    settings = re.findall(r"([A-Z_]+)=", given["--set-env-vars"] + "," + given["--set-secrets"])
    assert set(settings) == SETTINGS


def test_a_poison_event_goes_to_a_dead_letter_topic_after_five_deliveries():
    [update] = [c for c in gcloud_commands() if c[1:4] == ["pubsub", "subscriptions", "update"]]
    given = flags(update)
    assert given["--dead-letter-topic"] == "order-events-dead-letter"
    assert given["--max-delivery-attempts"] == "5"


def test_the_function_requirements_are_pinned_as_in_the_lock():
    lock = dict(
        line.lower().split("==")
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if "==" in line
    )
    for line in (DEPLOY / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.lower().split("==")
            assert lock[re.sub(r"\[.*\]", "", name)] == version, line


def test_the_package_holds_everything_the_entry_points_import_and_no_django(tmp_path):
    package = bundle_build(tmp_path / "order_email")
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import main, functions.order_email.aws as aws;"
        "mine = [m for name, m in sys.modules.items()"
        " if name.split('.')[0] in ('contracts', 'functions', 'extracted', 'main')];"
        "outside = [m.__name__ for m in mine if not m.__file__.startswith(sys.argv[1])];"
        "print(len(mine), outside, 'django' in sys.modules, callable(aws.handler))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(package)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(" ", 1)
    assert int(out[0]) > 10
    assert out[1].strip() == "[] False True"


def test_the_package_serves_the_entry_point_from_its_main_py(tmp_path, function_env, sink):
    """What Cloud Run functions does with the uploaded folder: main.py, target order_email."""
    package = bundle_build(tmp_path / "order_email")
    with framework_serving(
        function_env, tmp_path / "framework.log", cwd=package, source="main.py"
    ) as url:
        assert post_binary(url, customer_json()).status == 200
        assert post_binary(url, placed_json(51)[1]).status == 200
    assert [m["Subject"] for m in sink.received()] == ["Order 51 placed"]
