"""Example user modules, written the way researchers write them (functional and in-place ReLUs, residual
blocks, GELUs, control flow). The CLI tests import them as ``user_models.<file>:<callable>``."""
