"""Build hook: ship the workflow (Snakefile, rules, config, envs) inside the package.

`metpot run my.yaml` then finds the workflow in any installation (metpot/_workflow/); a source
checkout (editable install) uses the files beside src/ instead.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
WORKFLOW_FILES = ["Snakefile", "workflow", "config", "envs"]


class BuildWithWorkflow(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "metpot" / "_workflow"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in WORKFLOW_FILES:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.is_file():
                shutil.copy2(src, target / name)


setup(cmdclass={"build_py": BuildWithWorkflow})
