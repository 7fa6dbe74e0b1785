"""The tests never reach the Hugging Face hub: ``tests/conftest.py`` turns both offline switches on before
``datasets`` or ``huggingface_hub`` is imported, whatever the caller's environment says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
REPO = CONFTEST.parent.parent
PROBE = '''
import datasets  # at import, as a test module does: the switches must already be set
import huggingface_hub


def test_offline():
    assert datasets.config.HF_DATASETS_OFFLINE is True and datasets.config.HF_HUB_OFFLINE is True
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
'''


def test_offline_in_this_session() -> None:
    import datasets
    import huggingface_hub

    assert datasets.config.HF_DATASETS_OFFLINE is True and datasets.config.HF_HUB_OFFLINE is True
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True


@pytest.mark.parametrize("caller", ["unset", "0"])
def test_a_bare_pytest_run_is_offline(caller: str, tmp_path: Path) -> None:
    """A fresh ``python -m pytest`` with the switches removed from (or set to 0 in) its environment, using a copy of
    tests/conftest.py beside a test module that imports ``datasets`` at the top."""
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PYTEST") and k not in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")}
    if caller == "0":
        env |= {"HF_DATASETS_OFFLINE": "0", "HF_HUB_OFFLINE": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
                           str(tmp_path), str(tmp_path / "test_probe.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
