"""An `s3://` log directory, through TensorBoard's own filesystem layer, against a local S3 server.

The plugin reads its records by offset through the same layer as TensorBoard's Python loader
(storage.py): a `moto` S3 server on 127.0.0.1 holds the run, a real `tensorboard --logdir s3://...`
serves it, and what it serves equals the local copy. A run synced again with more steps (objects are
replaced whole on S3) shows them.
"""

import os
import urllib.parse

import boto3
import fsspec
import moto.server as moto_server
import numpy as np
import pytest

from tb_attention_plugin import read_run
from tb_attention_plugin.format.event_file import event_files
from tb_attention_plugin.server.http_payload import decode_container
from tb_attention_plugin.devtools.tensorboard_process import TensorBoardProcess, tensorboard_env

from plugin_fixtures import write_run

BUCKET = "attention-logs"


def q(route, **params):
    return f"data/plugin/attention/{route}?" + urllib.parse.urlencode(params)


@pytest.fixture
def s3(monkeypatch):
    """(boto3 client, environment) of a moto S3 server on 127.0.0.1 with an empty bucket."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "S3_ENDPOINT": endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    yield client
    server.stop()


def sync(client, run_dir, prefix):
    for path in event_files(str(run_dir)):
        with open(path, "rb") as f:
            client.put_object(Bucket=BUCKET, Key=f"{prefix}/{os.path.basename(path)}", Body=f.read())


def test_s3_log_directory_is_served_and_follows_a_growing_run(s3, tmp_path):
    run_dir = tmp_path / "local" / "run1"
    writer, maps = write_run(run_dir, range(0, 50, 10), close=False, n_tokens=12)
    writer.flush()
    sync(s3, run_dir, "logs/run1")
    tb = TensorBoardProcess(f"s3://{BUCKET}/logs", env=tensorboard_env(tmp_path)).start()
    try:
        tb.poll(lambda: tb.index_steps() == [list(range(0, 50, 10))], timeout=120)
        local = read_run(str(run_dir)).probe("p")
        for step in (0, 20, 40):
            header, data = decode_container(tb.get(q("snapshot", run="run1", probe="p", kind="self", step=step))[2])
            np.testing.assert_array_equal(data, local.quantized(step))
        header, data = decode_container(tb.get(q("stats", run="run1", probe="p", kind="self"))[2])
        np.testing.assert_array_equal(data[0], local.stats()["entropy"])

        write_run(run_dir, range(50, 90, 10), writer=writer, maps=maps, close=False)
        writer.flush()
        sync(s3, run_dir, "logs/run1")  # the object is replaced by a longer one
        tb.poll(lambda: tb.index_steps() == [list(range(0, 90, 10))], timeout=60)
        local = read_run(str(run_dir)).probe("p")
        for step in (40, 50, 80):
            header, data = decode_container(tb.get(q("snapshot", run="run1", probe="p", kind="self", step=step))[2])
            np.testing.assert_array_equal(data, local.quantized(step))
    finally:
        writer.close()
        tb.stop()


def test_an_fsspec_log_directory_is_read_through_tensorboards_filesystem_layer(tmp_path):
    """Protocols TensorBoard reads through fsspec (gs:// with gcsfs, ...) take the same path; fsspec's
    in-memory filesystem stands in for them, inside the test process."""
    from plugin_fixtures import App

    run_dir = tmp_path / "run1"
    write_run(run_dir, range(0, 40, 10), n_tokens=10)
    memory = fsspec.filesystem("memory")
    for path in event_files(str(run_dir)):
        with open(path, "rb") as f:
            memory.pipe(f"/tb-attention-test/logs/run1/{os.path.basename(path)}", f.read())
    try:
        app = App("memory://tb-attention-test/logs")
        assert app.plugin._data.reads_files
        steps = app.json("index")["runs"][0]["probes"][0]["kinds"][0]["steps"]
        assert steps == list(range(0, 40, 10))
        local = read_run(str(run_dir)).probe("p")
        for step in steps:
            np.testing.assert_array_equal(
                app.container("snapshot", run="run1", probe="p", kind="self", step=step)[1], local.quantized(step)
            )
        header, data = app.container("stats", run="run1", probe="p", kind="self")
        np.testing.assert_array_equal(data[0], local.stats()["entropy"])
    finally:
        memory.rm("/tb-attention-test", recursive=True)
