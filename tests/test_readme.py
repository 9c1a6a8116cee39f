"""Every code block of the README and of the guides it links to (PAGES) runs, so they cannot rot.

Python blocks are executed in order, page after page (the Trainer block against a tiny BERT); shell
blocks must name scripts that exist and parse; console blocks run as written; the Jupyter block is
checked against TensorBoard's notebook magic.
"""

import os
import re
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


# the pages with code blocks, in reading order (the README's Trainer block runs first)
PAGES = ["README.md", "docs/usage.md"]


def _blocks():
    blocks = []
    for page in PAGES:
        text = open(os.path.join(ROOT, page), encoding="utf-8").read()
        blocks += re.findall(r"```(\w*)\n(.*?)```", text, flags=re.S)
    return blocks


def test_no_other_page_holds_code_this_test_would_not_run():
    docs = os.path.join(ROOT, "docs")
    guides = [f"docs/{name}" for name in os.listdir(docs) if name.endswith(".md")]
    with_code = {page for page in guides if "```" in open(os.path.join(ROOT, page), encoding="utf-8").read()}
    # the reference pages' blocks show formats and layouts, not commands to run
    assert with_code - set(PAGES) <= {"docs/architecture.md", "docs/format.md", "docs/http-api.md", "docs/frontend.md"}


def test_readme_has_the_blocks_this_test_knows():
    langs = [lang for lang, _ in _blocks()]
    assert langs.count("python") == 9 and langs.count("bash") == 1, langs


def test_shell_block_names_existing_scripts_that_parse():
    (block,) = [code for lang, code in _blocks() if lang == "bash"]
    scripts = re.findall(r"^bash (\S+)", block, flags=re.M)
    assert scripts == ["scripts/demo.sh", "scripts/test.sh"]
    for script in scripts:
        subprocess.run(["bash", "-n", os.path.join(ROOT, script)], check=True)
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert "scripts/test.sh" in ci, ".ci/run must call the README's test command"


def test_console_block_replays_a_trainer_output_dir(tmp_path):
    """The replay block, run as written from a directory holding a Trainer's `out/` with checkpoints."""
    import shutil
    import shlex

    from test_replay import train_with_callback

    block = next(code for lang, code in _blocks() if lang == "console" and "tb-attention replay" in code)
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert [c[:2] for c in commands] == [
        ["tb-attention", "replay"],
        ["tensorboard", "--logdir"],
        ["tb-attention", "summary"],
    ]
    train_with_callback(tmp_path, "bert")
    for command in (commands[0], commands[2]):
        done = subprocess.run(
            [shutil.which(command[0]), *command[1:], *(["--quiet"] if "replay" in command else [])],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert "heads by type" in done.stdout
    replayed = tmp_path / commands[2][2]
    assert replayed.is_dir() and str(replayed).startswith(str(tmp_path / commands[1][2]))


def test_console_block_exports_a_run(tmp_path):
    """The export block, run as written from a directory holding logs/my_run."""
    import shlex
    import shutil

    from tb_attention_plugin.devtools.synthetic import write_run

    (block,) = [code for lang, code in _blocks() if lang == "console" and "tb-attention export" in code]
    (command,) = [shlex.split(line) for line in block.strip().splitlines()]
    write_run(tmp_path / command[2], layers=2, heads=2, tokens=8, steps=4)
    done = subprocess.run(
        [shutil.which(command[0]), *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = tmp_path / command[command.index("-o") + 1]
    assert report.is_file() and "<html" in report.read_text(encoding="utf-8")[:2000].lower()


def test_jupyter_block_uses_tensorboard_magic():
    (block,) = [code for lang, code in _blocks() if lang == ""]
    assert "%load_ext tensorboard" in block
    import tensorboard  # %load_ext tensorboard calls the package's load_ipython_extension

    assert callable(tensorboard.load_ipython_extension)


def test_python_blocks_run(tmp_path, monkeypatch):
    """Against the real packages: transformers' Trainer, a plain loop, accelerate and Lightning."""
    import torch
    from transformers import TrainingArguments, Trainer

    from tiny_models import TOKENIZER_KIND, tiny_model, toy_dataset, word_tokenizer

    monkeypatch.chdir(tmp_path)
    tokenizer = word_tokenizer(TOKENIZER_KIND["bert"])
    namespace = {
        "Trainer": Trainer,
        "model": tiny_model("bert", len(tokenizer)),
        "tokenizer": tokenizer,
        "train": toy_dataset("bert", tokenizer, n=8),
        "train_loader": torch.utils.data.DataLoader(toy_dataset("bert", tokenizer, n=200), batch_size=4),
        "args": TrainingArguments(
            output_dir=str(tmp_path / "out"),
            max_steps=3,
            per_device_train_batch_size=4,
            report_to="none",
            use_cpu=True,
            save_strategy="no",
            disable_tqdm=True,
        ),
    }
    for lang, code in _blocks():
        if lang == "python":
            if "import transformer_lens" in code.replace("from transformer_lens", "import transformer_lens"):
                try:  # not installable at the lowest versions (it needs a newer transformers)
                    import transformer_lens  # noqa: F401
                except ImportError:
                    continue
            exec(compile(code, "README.md and docs/usage.md", "exec"), namespace)
    # the Trainer block logged into transformers' default run directory
    runs = os.listdir(tmp_path / "out" / "runs")
    assert len(runs) == 1
    import tb_attention_plugin

    run = tb_attention_plugin.read_run(str(tmp_path / "out" / "runs" / runs[0]))
    assert len(run.probes) == 2 and run.probe(run.probes[0]).steps == [0, 3]
    # the custom loops and Lightning logged where they say, at the steps they say
    assert run.probe(run.probes[0]).steps == [0, 3]
    assert tb_attention_plugin.read_run("logs/custom").probe("The cat sat on the mat.").steps == [0, 50]
    assert tb_attention_plugin.read_run("logs/custom").scalars("train/loss")[0].tolist() == [50]
    assert tb_attention_plugin.read_run("logs/accelerate").probe("The cat sat on the mat.").steps == [50]
    lightning = tb_attention_plugin.read_run(os.path.join("lightning_logs", "version_0"))
    steps = lightning.probe("The cat sat on the mat.").steps
    assert steps[0] == 0 and steps[-1] == 100
    assert "train/loss" in lightning.scalar_tags  # Lightning's own curve, in the same run
    # the writer + reader blocks ran on logs/my_run
    assert namespace["p"].steps == [0, 100, 200]
    assert namespace["a"].shape == (2, 4, 5, 5)
    assert abs(float(namespace["a"].sum(-1).mean()) - 1.0) < 1 / 255
    assert list(namespace["steps"]) == [0, 100, 200]
