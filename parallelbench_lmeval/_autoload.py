"""Make `--model dllm` and the ParallelBench tasks visible to plain `lm_eval`.

lm-eval 0.4.13 has no plugin discovery, so the wheel installs a `.pth` file that imports
this module at interpreter start. It only adds an import hook: nothing of ours or of
lm-eval is imported until a program imports lm-eval's registry or task manager itself,
so unrelated Python programs pay one cheap `sys.meta_path` entry and nothing else.
"""

import sys
from importlib.abc import MetaPathFinder
from importlib.machinery import PathFinder

_PATCHED_MODULES = ("lm_eval.api.registry", "lm_eval.tasks.manager")


class _PatchAfterImport(MetaPathFinder):
    """Lets lm-eval's own loader run, then registers our model or task folder in the result."""

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHED_MODULES:
            return None
        spec = PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            from parallelbench_lmeval import registration

            registration.patch(module)

        spec.loader.exec_module = exec_module
        return spec


if not any(isinstance(finder, _PatchAfterImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _PatchAfterImport())
