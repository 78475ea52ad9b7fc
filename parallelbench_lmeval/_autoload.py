"""Make `--model dllm` and the ParallelBench tasks visible to plain `lm_eval`.

lm-eval 0.4.13 has no plugin discovery, so the wheel installs a `.pth` file that imports
this module at interpreter start. It only adds an import hook: nothing of ours or of
lm-eval is imported until a program imports lm-eval's registry, task manager or CLI config itself,
so unrelated Python programs pay one cheap `sys.meta_path` entry and nothing else.
This module therefore imports nothing the interpreter has not loaded before `site` runs
(no `importlib.abc`, `importlib.machinery`, ...): tests/test_registration.py checks that
only this module and its package are added to `sys.modules`.

The `.pth` line ignores a missing package (uninstalled, or an editable checkout that is
gone), so a leftover `.pth` never prints a traceback at every start.
"""

import sys

# the keys of registration.PATCHES (not imported here: it would load lm-eval at every start)
_PATCHED_MODULES = ("lm_eval.api.registry", "lm_eval.tasks.manager", "lm_eval.config.evaluate_config")


class _PatchAfterImport:
    """Lets lm-eval's own loader run, then registers our model or task folder in the result.

    A meta path finder needs only `find_spec`; subclassing `importlib.abc.MetaPathFinder`
    would import `importlib.abc` (and ~60 modules under it) into every Python program.
    """

    def find_spec(self, name, path=None, target=None):
        if name not in _PATCHED_MODULES:
            return None
        spec = _find_with_other_finders(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            from parallelbench_lmeval import registration

            registration.patch(module)

        spec.loader.exec_module = exec_module
        return spec


def _find_with_other_finders(name, path, target):
    """The spec the import system would find without this hook (the standard `PathFinder`,
    or the finder of an editable lm-eval install)."""
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if isinstance(finder, _PatchAfterImport) or find_spec is None:
            continue
        spec = find_spec(name, path, target)
        if spec is not None:
            return spec
    return None


if not any(isinstance(finder, _PatchAfterImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _PatchAfterImport())
