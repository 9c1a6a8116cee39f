"""Which run directory the attention goes to, and whether we also write the loss curves.

- explicit `log_dir`: there, with our own scalars;
- transformers' TensorBoardCallback active (report_to has "tensorboard" or "all"): the directory IT
  writes to, and no scalars from us (it already writes train/loss, eval/...; no duplicated curves);
- else `$TENSORBOARD_LOGGING_DIR`, else `output_dir/runs/<date>_<host>`, transformers' own default.
"""

import glob
import os
import socket


def tensorboard_callback_active(args):
    report_to = getattr(args, "report_to", None) or []
    if isinstance(report_to, str):
        report_to = [report_to]
    return "tensorboard" in report_to or "all" in report_to


def transformers_default_dir(args):
    from transformers.integrations.integration_utils import default_logdir

    env = os.getenv("TENSORBOARD_LOGGING_DIR")
    if env:
        return os.path.expanduser(env)
    return os.path.join(args.output_dir, default_logdir())


def tensorboard_callback_dir(args):
    """The run directory transformers' TensorBoardCallback opened in this process, or None.

    It runs before user callbacks and has opened its event file by our on_train_begin; its file name
    ends with this host and pid.
    """
    env = os.getenv("TENSORBOARD_LOGGING_DIR")
    if env:
        return os.path.expanduser(env)
    pattern = os.path.join(
        glob.escape(args.output_dir), "runs", "*", f"events.out.tfevents.*.{socket.gethostname()}.{os.getpid()}.*"
    )
    files = [f for f in glob.glob(pattern) if not f.endswith(".attention")]
    if not files:
        return None
    return os.path.dirname(max(files, key=os.path.getmtime))


def resolve(args, explicit):
    """-> (run directory, write_scalars)."""
    tb_dir = tensorboard_callback_dir(args) if tensorboard_callback_active(args) else None
    if explicit is not None:
        path = os.fspath(explicit)
        same = tb_dir is not None and os.path.abspath(tb_dir) == os.path.abspath(path)
        return path, not same
    if tb_dir is not None:
        return tb_dir, False
    return transformers_default_dir(args), True
