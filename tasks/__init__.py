"""The task library: target functions for the KAN / MLP scaling benchmarks.

A `Task` is a target function given as a formula over named inputs, with the box its
inputs are drawn from, the KAN shape that represents it (where known), the dimension d
of the MLP comparison line alpha = 4/d, a group, a reference and a description. The
library tasks are data in the YAML files of this folder (installed as
``kanbench.tasks``); a user adds a task with a config mapping alone (`task_from_config`).

Groups and names (``kanbench-tasks`` or ``python -m kanbench.tasks`` prints them all):

- toy (KAN paper §3.1): bessel_j0_20x, exp_sin_y2 (the default, DEFAULT_TASK),
  product_xy, exp_mean_sin2_100d, exp_sin_4d.
- special (§3.2, scipy.special): ellipj_sn, ellipkinc, ellipeinc, jv, yv, kv, iv,
  lpmv_m0, lpmv_m1, lpmv_m2, sph_harm_m0_n1, sph_harm_m1_n1, sph_harm_m0_n2,
  sph_harm_m1_n2, sph_harm_m2_n2.
- feynman (§3.3, AI Feynman dataset): feynman_I_6_20, feynman_I_6_20b, feynman_I_8_14,
  feynman_I_9_18, feynman_I_10_7, feynman_I_12_2, feynman_I_12_11, feynman_I_13_12,
  feynman_I_15_3x, feynman_I_16_6, feynman_I_18_4, feynman_I_24_6, feynman_I_26_2,
  feynman_I_27_6, feynman_I_29_16, feynman_I_30_3, feynman_I_30_5, feynman_I_34_14,
  feynman_I_37_4, feynman_I_40_1, feynman_I_44_4, feynman_I_50_26, feynman_II_2_42,
  feynman_II_6_15a, feynman_II_11_17, feynman_II_11_27, feynman_II_24_17,
  feynman_II_35_18, feynman_II_36_38, feynman_II_38_3, feynman_III_4_33,
  feynman_III_10_19, feynman_III_17_37.

Modules: formula.py (safe formula parser), task.py (Task and its validation),
library.py (the YAML library, lookup, configs), cli.py (the lister).
"""

from .cli import main
from .formula import Formula, parse_formula
from .library import DEFAULT_TASK, GROUPS, get_task, list_tasks, task_from_config
from .task import Task

__all__ = [
    "DEFAULT_TASK",
    "GROUPS",
    "Formula",
    "Task",
    "get_task",
    "list_tasks",
    "main",
    "parse_formula",
    "task_from_config",
]
